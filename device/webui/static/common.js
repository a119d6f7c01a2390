// Shared by every page: the CSRF header, JSON requests with readable errors, and a toast.
"use strict";

const Booth = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function request(url, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set("X-CSRF-Token", csrf);
    headers.set("Accept", "application/json");
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", ...options, headers });
    } catch (error) {
      throw new Error("The booth cannot be reached. Is the phone on the booth's network?");
    }
    let body = null;
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      body = await response.json();
    }
    if (!response.ok) {
      const message = body?.error || `The booth answered ${response.status}.`;
      const error = new Error(message);
      error.status = response.status;
      error.body = body;
      throw error;
    }
    return body;
  }

  let toastTimer = null;
  function toast(message, kind = "ok") {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.dataset.kind = kind;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 6000 : 3000);
  }

  function readData(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  return { request, toast, readData, csrf };
})();

// Forms that ask before doing something irreversible (delete).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Times are stored in UTC; show them in the phone's own time zone.
document.querySelectorAll("time[datetime]").forEach((element) => {
  const when = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) return;
  element.textContent = when.toLocaleString([], {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
});
