// The memoji page: the operator's delete uses the API, then goes back to the gallery, which says so.
"use strict";

(() => {
  const form = document.querySelector(".delete-form");
  if (!form) return;
  const button = form.querySelector("button");
  form.addEventListener("submit", async (event) => {
    if (event.defaultPrevented) return;  // the confirmation was declined
    event.preventDefault();
    const name = decodeURIComponent(location.pathname.split("/").pop());
    Booth.setAvailable(button, false);  // one tap, one request
    try {
      await Booth.request(`/api/gallery/${encodeURIComponent(name)}`, { method: "DELETE" });
      window.location.href = "/gallery?deleted=1";  // the gallery says it is done
    } catch (error) {
      Booth.setAvailable(button, true);
      if (error.status === 401) {
        Booth.toLogin();
        return;
      }
      Booth.toast(error.message, "error");
    }
  });
})();
