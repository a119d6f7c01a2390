"""`memoji-booth bench`: how fast the booth loop runs, stage by stage, on a replay.

It runs the real loop headless (display ``none``: scenes are still drawn, into
an off-screen surface) on a replay source, with one inference thread, and
reports the median and 95th percentile milliseconds of each stage:

- ``read``: the next frame from the source
- ``detect``: BlazeFace on the frame
- ``classify``: the expression model on the face's crops (infer.FER_CROP_SCALES), averaged
- ``render``: composing the scene (memoji surface, preview, bars) off-screen
- ``draw``: presenting it (a no-op without a screen)

plus the frames per second of the whole loop, the peak resident memory, and
the time to re-render the seven memojis after a look change.
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STAGES = ("read", "detect", "classify", "render", "draw")
WARMUP_FRAMES = 10


class StageTimes:
    """Collects seconds per stage (the booth's ``profiler``)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.recording = True

    def record(self, stage: str, seconds: float) -> None:
        if self.recording:
            self.samples[stage].append(seconds)

    def clear(self) -> None:
        self.samples.clear()


class _Timed:
    """Wraps the detector or the model so its one call is timed as a stage."""

    def __init__(self, inner: Any, method: str, stage: str, times: StageTimes) -> None:
        self._inner, self._method, self._stage, self._times = inner, method, stage, times

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._times.record(self._stage, time.perf_counter() - start)

        return timed


@dataclass
class BenchReport:
    frames: int
    fps: float
    stages: dict[str, dict[str, float]]
    peak_rss_mb: float
    look_change_s: float
    source: str = ""

    def to_json(self) -> str:
        return json.dumps({
            "source": self.source, "frames": self.frames, "fps": round(self.fps, 1),
            "stages": self.stages, "peak_rss_mb": round(self.peak_rss_mb, 1),
            "look_change_s": round(self.look_change_s, 3),
        })

    def to_text(self) -> str:
        lines = [f"source: {self.source}  frames: {self.frames}",
                 f"{'stage':<10}{'median ms':>11}{'p95 ms':>9}"]
        for stage, values in self.stages.items():
            lines.append(f"{stage:<10}{values['median_ms']:>11.2f}{values['p95_ms']:>9.2f}")
        lines += [f"loop: {self.fps:.1f} frames per second",
                  f"peak RSS: {self.peak_rss_mb:.1f} MiB",
                  f"look change (7 memojis re-rendered): {self.look_change_s:.2f} s"]
        return "\n".join(lines)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {stage: {"median_ms": round(statistics.median(samples[stage]) * 1000, 3),
                    "p95_ms": round(_percentile(samples[stage], 0.95) * 1000, 3),
                    "samples": len(samples[stage])}
            for stage in STAGES if samples.get(stage)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on
    macOS); the JSON's `peak_rss_mb` keeps its name."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_bench(source: str | Path, frames: int = 300, size: tuple[int, int] = (1024, 600),
              config_path: str | Path | None = None) -> BenchReport:
    """Run the headless loop on ``source`` for ``frames`` frames (after a short warm-up).

    Settings come from ``config_path`` (or the usual config file) for the model
    and detector; the camera, screen, button and web page are the bench's own.
    """
    import cv2

    from device.app import Booth
    from device.avatar import PRESETS, AvatarCache
    from device.capture import CameraError, names_a_camera
    from device.config import load_config
    from device.display import Display
    from device.pipeline import Analyser

    if names_a_camera(str(source)):
        # a live camera's frame rate caps the loop and its frames differ run to run
        raise CameraError(f"bench --source {source}: the bench measures a replay of images or "
                          "a video, so runs compare; make one with `make bench` or "
                          "scripts/make_replay.py")
    cv2.setNumThreads(1)  # one core, like the inference
    times = StageTimes()
    with tempfile.TemporaryDirectory(prefix="memoji-bench-") as data_dir:
        config = load_config(config_path, {
            "camera.source": str(source), "display.mode": "none", "web.enabled": False,
            "button.enabled": False, "storage.data_dir": data_dir,
        }, uses_camera=False)  # the file's camera is not the one replayed: --source is checked
        analyser = Analyser.from_config(config)  # as the booth builds it, each call timed
        analyser.detector = _Timed(analyser.detector, "detect", "detect", times)
        analyser.model = _Timed(analyser.model, "classify_views", "classify", times)
        display = Display("none", size)
        booth = Booth(config, display=display, button=False, analyser=analyser, profiler=times,
                      notifier=_Silent())
        booth.avatars.wait_ready(timeout=30)  # the first memojis, before the clock starts
        times.recording = False
        warm = _WarmUpThenCount(booth, WARMUP_FRAMES, times)
        booth.run(frames=WARMUP_FRAMES + frames)  # the warm-up shows WARMUP_FRAMES frames
        if warm.counted() < frames:  # Ctrl+C, which the booth's loop takes as its stop
            raise KeyboardInterrupt(f"stopped after {warm.counted()} of {frames} frames")
        elapsed = warm.elapsed()
        fps = frames / elapsed if elapsed > 0 else 0.0

        cache = AvatarCache(booth.avatars.size)
        try:
            cache.set_look(PRESETS["female"])
            cache.wait_ready(timeout=60)
            start = time.perf_counter()
            cache.set_look(PRESETS["male"])
            cache.wait_ready(timeout=60)
            look_change = time.perf_counter() - start
        finally:
            cache.close()
    return BenchReport(frames=frames, fps=fps, stages=_summary(times.samples),
                       peak_rss_mb=peak_rss_mb(), look_change_s=look_change, source=str(source))


class _Silent:
    """No systemd in a benchmark."""

    watchdog_s = None

    def ready(self) -> bool:
        return False

    watchdog = stopping = ready

    def status(self, text: str) -> bool:
        return False


class _WarmUpThenCount:
    """Starts the stopwatch once the warm-up frames were shown, and the stage timings with
    the next pass of the loop (the last warm-up frame's render and draw times are
    recorded after its present(), so switching on there would count them too)."""

    def __init__(self, booth: Any, warmup: int, times: StageTimes) -> None:
        self._shown = 0
        self._warmup = warmup
        self._times = times
        self._start: float | None = None
        self._end: float | None = None
        display = booth.display
        present = display.present
        step = booth.step

        def counting_present() -> None:
            present()
            self._shown += 1
            now = time.perf_counter()
            if self._shown == self._warmup:
                self._start = now
            self._end = now

        def recording_step() -> int:
            if self._shown >= self._warmup and not self._times.recording:
                self._times.clear()
                self._times.recording = True
            return step()

        display.present = counting_present
        booth.step = recording_step

    def counted(self) -> int:
        """Frames shown after the warm-up."""
        return max(0, self._shown - self._warmup)

    def elapsed(self) -> float:
        if self._start is None or self._end is None:
            return 0.0
        return self._end - self._start
