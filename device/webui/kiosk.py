"""What the page can reach: the booth running in this process, or only the files it keeps.

One object answers the same questions either way, so the views never ask
"is there a booth?". With a booth, the web threads call only its thread-safe
methods (`status`, `request_capture`, `apply_look`) and share its `gallery`
(which locks its writes); nothing here waits on the display loop. The look
is always saved through `LookStore` (it survives a restart; a kiosk in another
process polls the file) and, with a booth, handed to it at once. Photo uploads
get a face detector and expression model of their own, built on first use and
kept for the life of the app.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from device.avatar import Look
from device.gallery import Gallery, LookStore

log = logging.getLogger(__name__)

NOT_RUNNING_MESSAGE = (
    "The kiosk is not running here: this page is served by memoji-booth web, which has no camera. "
    "Live view and capture work when the page is served by memoji-booth run."
)


class KioskUnavailable(RuntimeError):
    """The request needs the booth loop (camera, countdown) and there is none in this process."""


class AnalyserUnavailable(RuntimeError):
    """The face detector or expression model cannot be loaded; the message says how to fix it."""


class KioskLink:
    """The booth (when `booth` is given) or the saved files alone, behind one small interface."""

    def __init__(self, settings: Mapping[str, Any], booth: Any = None) -> None:
        self._booth = booth
        self._config = settings["MEMOJI_CONFIG"]
        self._looks = LookStore(settings["LOOK_PATH"])
        self._factory: Callable[[], Any] | None = settings.get("ANALYSER_FACTORY")
        self._gallery = booth.gallery if booth is not None else None
        self._gallery_folder = settings["GALLERY_DIR"]
        self._analyser: Any = None
        self._analyser_lock = threading.Lock()
        self._analyser_failed = False  # its failure is in the journal already
        # A TFLite interpreter is not safe to call from two threads at once; waitress has several.
        self.analyse_lock = threading.Lock()

    @property
    def running(self) -> bool:
        """True inside `memoji-booth run`: live status and capture are available."""
        return self._booth is not None

    # ------------------------------------------------------------ live

    def status(self) -> dict[str, Any]:
        """The booth's live state as plain JSON values, or a note that it does not run here."""
        if self._booth is None:
            return {"running": False, "message": NOT_RUNNING_MESSAGE}
        return {"running": True, **jsonable(self._booth.status())}

    def health_warnings(self) -> list[str]:
        """The Pi's problems (supply, heat, card) in words; none without a booth. A status
        that fails is the status page's to report: a notice never breaks a page."""
        if self._booth is None:
            return []
        try:
            health = self._booth.status().get("health") or {}
        except Exception:
            log.debug("no health notice: the booth's status failed", exc_info=True)
            return []
        return [str(line) for line in health.get("warnings") or []]

    def request_capture(self) -> Any:
        """Start the kiosk's countdown, exactly as the GPIO button does.

        The booth answers False both when it is busy and when it has no model;
        only the second needs the operator (and cannot be retried), so it is
        told apart by the booth's `model_error` and raised with the fix.
        """
        if self._booth is None:
            raise KioskUnavailable(NOT_RUNNING_MESSAGE)
        accepted = self._booth.request_capture()
        if accepted is False:
            model_error = self._booth.status().get("model_error")
            if model_error:
                raise AnalyserUnavailable(f"Capture is unavailable on this booth: {model_error}")
        return accepted

    # ------------------------------------------------------------ look

    def load_look(self) -> Look:
        return self._looks.load()

    def save_look(self, look: Look) -> None:
        """Persist the look (it survives a restart) and hand it to the running booth at once."""
        self._looks.save(look)
        if self._booth is not None:
            self._booth.apply_look(look)

    # ------------------------------------------------------------ gallery and photos

    @property
    def gallery(self) -> Gallery:
        if self._gallery is None:
            self._gallery_folder.mkdir(parents=True, exist_ok=True)
            self._gallery = Gallery(self._gallery_folder, keep=self._config.storage.keep)
        return self._gallery

    def analyser(self) -> Any:
        """The page's own face + expression analyser, built on first use and kept.

        Never the booth's: its interpreters run on the display loop's thread, and
        a TFLite interpreter must not be invoked from two threads at once. The
        models are small (a few MB), so a second set costs little.
        """
        with self._analyser_lock:
            if self._analyser is None:
                self._analyser = (self._factory or self._build_analyser)()
            return self._analyser

    def _build_analyser(self) -> Any:
        from device.infer import ModelMissingError
        from device.pipeline import Analyser

        try:
            analyser = Analyser.from_config(self._config)
        except ModelMissingError as error:
            # Tried again on every upload (the model may be put in place meanwhile): said once.
            if self._analyser_failed:
                log.debug("photo upload still unavailable: %s", error)
            else:
                log.error("photo upload unavailable: %s", error)
                self._analyser_failed = True
            raise AnalyserUnavailable(str(error)) from error
        log.info("loaded the face detector and expression model for photo uploads")
        return analyser


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples, enums and numpy scalars as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):  # numpy array
        return value.tolist()
    return str(value)
