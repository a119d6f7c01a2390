// The look editor: every change redraws the preview; Save sends the look with PUT /api/look.
"use strict";

(() => {
  const data = Booth.readData("editor-data");
  const form = document.getElementById("look-form");
  const preview = document.getElementById("preview");
  const frame = preview.closest(".preview-frame");
  const dirtyNote = document.getElementById("dirty");
  const fieldNames = Object.keys(data.look);
  let saved = { ...data.look };
  let expression = "happy";
  let edits = 0;  // changes to the look on this page so far (by hand, preset or random)
  // Edits made before a lapsed login sent the guest to the login page come back after it.
  const PENDING_KEY = "memoji-booth:unsaved-look";

  function currentLook() {
    const look = {};
    for (const name of fieldNames) {
      const control = form.elements[name];
      look[name] = control.value;  // a <select>, or the RadioNodeList of a swatch group
    }
    return look;
  }

  function setLook(look) {
    edits += 1;
    for (const name of fieldNames) {
      if (look[name] !== undefined) form.elements[name].value = look[name];
    }
    refresh();
  }

  function previewUrl(look) {
    const query = new URLSearchParams({ expression, size: String(data.previewSize), ...look });
    return `${data.previewUrl}?${query}`;
  }

  function labelColours() {
    document.querySelectorAll("[data-current]").forEach((span) => {
      const name = span.dataset.current;
      const checked = form.querySelector(`input[name="${name}"]:checked`);
      span.textContent = checked ? checked.closest("label").title : "";
    });
  }

  function refresh() {
    const look = currentLook();
    const url = previewUrl(look);
    if (preview.getAttribute("src") !== url) {
      frame.classList.add("loading");
      preview.src = url;
    }
    const dirty = fieldNames.some((name) => look[name] !== saved[name]);
    dirtyNote.hidden = !dirty;
    labelColours();
  }

  // A preview that fails says why, inside the circle and as a message; while the booth
  // cannot be reached it is tried again every few seconds, so it comes back by itself.
  const previewProblem = document.getElementById("preview-problem");
  const RETRY_MS = 3000;
  let retryTimer = null;
  let unreachable = false;

  function retryPreview() {
    clearTimeout(retryTimer);
    if (!frame.classList.contains("broken") || document.visibilityState !== "visible") return;
    frame.classList.add("loading");
    preview.src = previewUrl(currentLook());  // the same address loads again after an error
  }

  preview.addEventListener("load", () => {
    frame.classList.remove("loading", "broken");
    previewProblem.hidden = true;
    unreachable = false;
  });
  let blipped = null;  // the address whose image failed once although the booth drew it
  preview.addEventListener("error", async () => {
    const failed = preview.src;
    let message = "The preview could not be drawn.";
    let reached = true;
    let drawn = false;
    try {  // the image's error event does not say why: the same request as JSON does
      await Booth.request(failed);
      drawn = true;
    } catch (error) {
      message = error.message;
      reached = error.status !== undefined;
    }
    if (preview.src !== failed) return;  // a newer preview is on its way
    if (drawn && blipped !== failed) {  // a moment's failure: load it again, once
      blipped = failed;
      preview.src = failed;  // the same address loads again after an error
      return;
    }
    frame.classList.remove("loading");
    frame.classList.add("broken");
    previewProblem.hidden = false;
    previewProblem.textContent = reached ? "No preview" : "Cannot reach the booth. Trying again…";
    if (reached || !unreachable) Booth.toast(message, "error");  // once per outage
    unreachable = !reached;
    if (unreachable) retryTimer = setTimeout(retryPreview, RETRY_MS);
  });
  window.addEventListener("online", retryPreview);
  document.addEventListener("visibilitychange", retryPreview);

  form.addEventListener("change", () => {
    edits += 1;
    refresh();
  });
  // Back on this page, the browser refills the form with the unsaved choices after this
  // script ran (and fires no change): show them in the preview, as not saved yet.
  window.addEventListener("pageshow", refresh);

  // The expression chips are one radio group: a single Tab stop (the chosen chip), and the
  // arrow keys, Home and End choose another, as in any radio group.
  document.getElementById("expression-chips").hidden = false;  // they need this script
  const chips = [...document.querySelectorAll(".chip[data-expression]")];
  function choose(chip) {
    expression = chip.dataset.expression;
    for (const other of chips) {
      other.setAttribute("aria-checked", String(other === chip));
      other.tabIndex = other === chip ? 0 : -1;
    }
    refresh();
  }
  const KEY_STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  chips.forEach((chip, index) => {
    chip.tabIndex = chip.getAttribute("aria-checked") === "true" ? 0 : -1;
    chip.addEventListener("click", () => choose(chip));
    chip.addEventListener("keydown", (event) => {
      let next;
      if (event.key in KEY_STEPS) next = chips[(index + KEY_STEPS[event.key] + chips.length) % chips.length];
      else if (event.key === "Home") next = chips[0];
      else if (event.key === "End") next = chips[chips.length - 1];
      else return;
      event.preventDefault();  // no page scroll
      choose(next);
      next.focus();
    });
  });

  document.querySelectorAll("[data-preset]").forEach((button) => {
    button.addEventListener("click", (event) => {
      event.preventDefault();  // fill the form; Save applies it
      setLook(data.presets[button.dataset.preset]);
    });
  });

  // On a slow network answers come late and out of order: only the answer to the latest
  // tap is used, and not once the look was changed after that tap (the guest's own choice wins).
  const randomButton = document.getElementById("random");
  randomButton.hidden = false;
  let randomTaps = 0;
  randomButton.addEventListener("click", async () => {
    const tap = ++randomTaps;
    const editsBefore = edits;
    try {
      const look = await Booth.request("/api/look/random");
      if (tap === randomTaps && edits === editsBefore) setLook(look);
    } catch (error) {
      if (tap === randomTaps) Booth.toast(error.message, "error");
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("save");
    if (!Booth.isAvailable(button)) return;  // Enter (the form's default button) while saving
    Booth.setAvailable(button, false);
    try {
      const look = await Booth.request("/api/look", {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(currentLook()),
      });
      saved = { ...look };
      refresh();
      Booth.toast("Saved. The kiosk shows the new look within a second.");
    } catch (error) {
      if (error.status === 401) {
        try {
          sessionStorage.setItem(PENDING_KEY, JSON.stringify(currentLook()));
        } catch (storageError) { /* private mode: the edits are lost, the login still works */ }
        leaving = true;  // no "leave site?" question: the edits are kept
        Booth.toLogin();
        return;
      }
      Booth.toast(error.message, "error");
    } finally {
      Booth.setAvailable(button, true);
    }
  });

  let leaving = false;
  window.addEventListener("beforeunload", (event) => {
    if (!leaving && !dirtyNote.hidden) event.preventDefault();
  });

  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    sessionStorage.removeItem(PENDING_KEY);
  } catch (error) { /* nothing kept */ }
  if (pending) {
    setLook(pending);
    Booth.toast("Your changes are back: press Save to keep them.");
  }
  refresh();
})();
