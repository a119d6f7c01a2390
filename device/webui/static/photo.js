// Photo upload: sends the picture to /api/photo and shows the memoji that comes back.
"use strict";

(() => {
  const form = document.getElementById("photo-form");
  const input = document.getElementById("photo-input");
  const fileName = document.getElementById("file-name");
  const submit = document.getElementById("photo-submit");
  const result = document.getElementById("photo-result");
  const errorBox = document.getElementById("photo-error");
  const status = document.getElementById("photo-status");

  const MAX_SIDE = 1600;  // the booth analyses at most 1280 px; a phone's 12 MP photo is mostly upload time

  // Large photos, and formats the booth cannot decode (HEIC), become a smaller JPEG
  // in the phone itself; anything the browser cannot read goes up unchanged.
  async function shrink(file) {
    const known = file.type === "image/jpeg" || file.type === "image/png";
    if (typeof createImageBitmap !== "function") return file;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (error) {
      return file;
    }
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (known && scale === 1) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : file;
  }

  input.addEventListener("change", () => {
    fileName.textContent = input.files.length ? input.files[0].name : "No photo chosen";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.files.length) {
      errorBox.textContent = "Choose a photo first.";
      errorBox.hidden = false;
      return;
    }
    errorBox.hidden = true;
    Booth.setAvailable(submit, false);
    status.textContent = "Finding your face…";
    try {
      const photo = await shrink(input.files[0]);
      // The server refuses a body over its limit before reading it, with no page to show.
      const maxBytes = Number(form.dataset.maxBytes);
      if (maxBytes && photo.size > maxBytes) {
        throw new Error(`This photo is too large (${(photo.size / 1048576).toFixed(1)} MB); ` +
          `the booth takes up to ${(maxBytes / 1048576).toFixed(0)} MB.`);
      }
      const body = new FormData();
      body.append("photo", photo, photo.name || "photo.jpg");
      // Upload and face finding on a Pi over busy Wi-Fi: more time than a plain request.
      const memoji = await Booth.request("/api/photo", { method: "POST", body, timeoutMs: 60000 });
      document.getElementById("result-image").src = memoji.image;
      document.getElementById("result-text").textContent =
        `${Booth.expressionTitle(memoji.expression)} · ${Math.round(memoji.score * 100)}% sure`;
      const download = document.getElementById("result-download");
      download.href = memoji.download;
      download.setAttribute("download", memoji.name);
      document.getElementById("result-page").href = memoji.page;
      result.hidden = false;
      // Focus (so a screen reader reads it) on the news, not on the button pressed before it.
      document.getElementById("result-heading").focus({ preventScroll: true });
      const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      result.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "start" });
    } catch (error) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
    } finally {
      Booth.setAvailable(submit, true);
      status.textContent = "";
    }
  });
})();
