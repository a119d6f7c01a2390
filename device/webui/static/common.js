// Shared by every page: the CSRF header, JSON requests with readable errors, and a toast.
"use strict";

const Booth = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  // A booth that stops answering must not leave a button unavailable for ever.
  const TIMEOUT_MS = 15000;

  async function request(url, options = {}) {
    const { timeoutMs = TIMEOUT_MS, ...fetchOptions } = options;
    const headers = new Headers(fetchOptions.headers || {});
    headers.set("X-CSRF-Token", csrf);
    headers.set("Accept", "application/json");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetch(url, {
        credentials: "same-origin", ...fetchOptions, headers, signal: controller.signal,
      });
    } catch (error) {
      throw new Error(controller.signal.aborted
        ? "The booth did not answer in time. Try again in a moment."
        : "The booth cannot be reached. Is the phone on the booth's network?");
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      try {
        body = await response.json();
      } catch {
        body = null;  // no body (a HEAD request) or a cut-off one: the status still speaks
      }
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

  // The toast is a live region that is always there (only emptied, never hidden), so screen
  // readers follow it from the start and read each message put in it.
  let toastTimer = null;
  function toast(message, kind = "ok") {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.dataset.kind = kind;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.textContent = ""; }, kind === "error" ? 6000 : 3000);
  }

  function readData(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  // The guest's word for an expression, the kiosk screen's ("Scared" for fear).
  const expressionTitles = readData("expression-titles") || {};
  function expressionTitle(expression) {
    return expressionTitles[expression] || expression[0].toUpperCase() + expression.slice(1);
  }

  // An operator-only action whose login has lapsed: log in, then come back here.
  function toLogin() {
    window.location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  }

  // A button that may not be pressed now (its request is under way, the kiosk is not running)
  // is marked aria-disabled (dimmed, read out as unavailable) and its presses are ignored,
  // but it is not disabled: a disabled button drops the keyboard focus to the page, and a
  // screen reader user back to its top.
  function setAvailable(button, available) {
    if (available) button.removeAttribute("aria-disabled");
    else button.setAttribute("aria-disabled", "true");
  }
  function isAvailable(button) {
    return button.getAttribute("aria-disabled") !== "true";
  }

  return {
    request, toast, readData, csrf, toLogin, setAvailable, isAvailable, expressionTitle, TIMEOUT_MS,
  };
})();

// Forms that ask before doing something irreversible (delete), and a second press on a
// button whose request is under way. Capture phase: before any page script sends the
// form's request.
document.addEventListener("submit", (event) => {
  if (event.submitter && !Booth.isAvailable(event.submitter)) {
    event.preventDefault();
    event.stopImmediatePropagation();
    return;
  }
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// A form that leaves the page (Delete all, log in) is sent once: a second tap while the booth
// worked sent it again, the browser showed that second answer, and "Delete all" said
// "Deleted 0 memojis" after deleting them all. A script's own form prevents the default and
// keeps its button itself. The page may stay all the same (asked "leave site?", the operator
// stayed; the load was stopped): the button works again after as long as the booth's own
// requests are given, or at once when the browser brings the page back from its cache.
const sentWith = new Map();  // button -> the timer that makes it available again
document.addEventListener("submit", (event) => {
  if (event.defaultPrevented || !event.submitter) return;
  const button = event.submitter;
  Booth.setAvailable(button, false);
  clearTimeout(sentWith.get(button));
  sentWith.set(button, setTimeout(() => {
    sentWith.delete(button);
    Booth.setAvailable(button, true);
  }, Booth.TIMEOUT_MS));
});
window.addEventListener("pageshow", () => {
  sentWith.forEach((timer, button) => {
    clearTimeout(timer);
    Booth.setAvailable(button, true);
  });
  sentWith.clear();
});

// A download from a booth that cannot be reached fails without a word on many phones: ask
// the booth first (HEAD, a few ms on its network) and say what is wrong, else download as
// usual, still within the tap's user activation.
document.addEventListener("click", async (event) => {
  const link = event.target.closest?.("a[download]");
  if (!link || event.defaultPrevented || link.dataset.checked === "yes") return;
  event.preventDefault();
  try {
    await Booth.request(link.href, { method: "HEAD" });
  } catch (error) {
    Booth.toast(error.status === 404 ? "This memoji is no longer on the booth." : error.message, "error");
    return;
  }
  link.dataset.checked = "yes";
  link.click();
  delete link.dataset.checked;
});

// Times are stored in UTC; show them in the phone's own time zone.
document.querySelectorAll("time[datetime]").forEach((element) => {
  const when = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) return;
  element.textContent = when.toLocaleString([], {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
});
