// The live page: polls /api/status (only while the page is visible) and starts captures.
"use strict";

(() => {
  const data = Booth.readData("live-data");
  const root = document.getElementById("live");
  const expressionText = document.getElementById("expression");
  const meta = document.getElementById("meta");
  const memoji = document.getElementById("live-memoji");
  const captureButton = document.getElementById("capture");
  const rows = new Map();
  document.querySelectorAll("#bars li").forEach((row) => rows.set(row.dataset.expression, row));
  const POLL_MS = 500;
  let shownExpression = null;
  // One polling loop at most: a poll is either waiting on its timer or in flight, never both,
  // and nothing starts another while either is true.
  let timer = null;
  let inFlight = false;

  // /api/status's `state` is the kiosk screen's name; a guest reads what the screen shows.
  const STATE_WORDS = {
    starting: "Starting", live: "Live", no_face: "Waiting for a face", countdown: "Counting down",
    saving: "Saving", saved: "Saved", asleep: "Screen asleep", idle: "No camera", error: "Problem",
  };

  const notice = document.getElementById("not-running");
  const healthNotice = document.getElementById("health-notice");

  // The Pi's problems (operator only: a guest's status has no `health`), one line each.
  // Rebuilt only when they change: it is a live region, read out again at each rebuild.
  function showHealth(health) {
    const lines = (health && health.warnings) || [];
    const shown = Array.from(healthNotice.children, (paragraph) => paragraph.textContent);
    if (JSON.stringify(shown) === JSON.stringify(lines)) return;
    healthNotice.replaceChildren(...lines.map((line) => {
      const paragraph = document.createElement("p");
      paragraph.textContent = line;
      return paragraph;
    }));
    healthNotice.hidden = lines.length === 0;
  }
  let capturing = false;  // a capture request in flight keeps the button unavailable
  captureButton.disabled = false;  // disabled in the page only for browsers without this script
  Booth.setAvailable(captureButton, root.dataset.running === "true");

  // The kiosk may start (or stop) while the page is open: follow it.
  function showRunning(running) {
    root.dataset.running = String(running);
    notice.hidden = running;
    if (!capturing) Booth.setAvailable(captureButton, running);
  }

  function show(status) {
    showRunning(Boolean(status.running));
    showHealth(status.health);
    if (!status.running) {
      meta.textContent = "Kiosk not running here";
      return;
    }
    const expression = status.expression || null;
    expressionText.textContent = expression ? Booth.expressionTitle(expression) : "No face";
    const parts = [];
    if (status.state) parts.push(STATE_WORDS[status.state] || status.state);
    if (typeof status.fps === "number") parts.push(`${status.fps.toFixed(0)} fps`);
    if (status.camera) parts.push(status.camera);
    const problem = status.model_error || status.camera_problem;
    meta.textContent = problem ? `${parts.join(" · ")} — ${problem}` : parts.join(" · ");
    meta.classList.toggle("problem", Boolean(problem));
    const scores = status.scores || {};
    for (const [name, row] of rows) {
      const score = Number(scores[name] || 0);
      row.querySelector(".fill").style.width = `${Math.round(score * 100)}%`;
      row.querySelector(".bar-value").textContent = scores[name] === undefined ? "–" : `${Math.round(score * 100)}%`;
      row.classList.toggle("top", name === expression);
    }
    if (expression && expression !== shownExpression) {
      shownExpression = expression;
      const query = new URLSearchParams({ expression, size: "256", ...data.look });
      memoji.src = `${data.previewUrl}?${query}`;
    }
  }

  const LOOK_EVERY = 10;  // polls between checks of the saved look (it changes rarely)
  let polls = 0;

  async function followLook() {
    const look = await Booth.request(data.lookUrl);
    if (JSON.stringify(look) !== JSON.stringify(data.look)) {
      data.look = look;
      shownExpression = null;  // redraw the memoji in the new look
    }
  }

  async function poll() {
    timer = null;
    inFlight = true;
    try {
      if (polls++ % LOOK_EVERY === LOOK_EVERY - 1) await followLook();
      show(await Booth.request(data.statusUrl));
    } catch (error) {
      meta.textContent = error.message;
    } finally {
      inFlight = false;
    }
    if (document.visibilityState === "visible") timer = setTimeout(poll, POLL_MS);
  }

  // Poll now unless the loop is already alive: a poll in flight reschedules itself when it ends.
  function resume() {
    if (document.visibilityState === "visible" && timer === null && !inFlight) poll();
  }

  // A hidden page polls nothing: drop the waiting timer; a poll in flight stops after it ends.
  function pause() {
    clearTimeout(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resume();
    else pause();
  });

  captureButton.addEventListener("click", async () => {
    if (!Booth.isAvailable(captureButton)) return;
    capturing = true;
    Booth.setAvailable(captureButton, false);
    try {
      const answer = await Booth.request(data.captureUrl, { method: "POST" });
      Booth.toast(answer.message || "Countdown started on the kiosk.");
    } catch (error) {
      if (error.status === 401) {
        Booth.toLogin();
        return;
      }
      Booth.toast(error.message, "error");
    } finally {
      setTimeout(() => {
        capturing = false;
        Booth.setAvailable(captureButton, root.dataset.running === "true");
      }, 1500);
    }
  });

  resume();
})();
