"""The kiosk screen: pygame draws whatever scene the booth loop hands it.

The loop decides *what* to show (a scene dataclass); this module only decides
*how* it looks. ``render(scene)`` is pure drawing into a surface, with no I/O,
so tests and the benchmark use it without a screen; ``show(scene)`` renders
and presents. Slow things are done once, not per frame: memoji surfaces once
per ``AvatarCache.version``, QR codes once per URL, text once per string.

Modes: ``fullscreen`` (on the Pi console without a desktop SDL's ``kmsdrm``
driver is tried first, then SDL's own choice), ``window``, ``none`` (nothing
on screen; ``render`` still draws off-screen) and ``auto``: a window on a
desktop, fullscreen on a console, none without any display.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402
import pygame.gfxdraw  # noqa: E402

from device.labels import EXPRESSIONS, expression_title  # noqa: E402

log = logging.getLogger(__name__)

__all__ = [
    "CAPTURE", "QUIT", "MODES", "Display", "DisplayError", "resolve_mode",
    "IdleScene", "LiveScene", "NoFaceScene", "CountdownScene", "SavedScene", "ErrorScene",
    "SavingScene", "SleepScene",
]

MODES = ("auto", "fullscreen", "window", "none")
ROTATIONS = (0, 90, 180, 270)
_HEADLESS_DRIVERS = ("offscreen", "dummy")  # usable only when asked for (tests)

# What poll_events() returns; the booth loop uses the same strings for its events.
CAPTURE = "capture"
QUIT = "quit"

# The design is laid out on a 1024x600 canvas (the common 7" Pi screen) and scaled.
BASE_W, BASE_H = 1024, 600
# A portrait screen (the Pi's Touch Display 2 is 720x1280) gets the same design with
# its two columns stacked: the memoji column above the panel column (scores, QR
# codes, countdown), then each half of the footer on a line of its own. Each strip:
# (x, y, w, h) in the 1024x600 design -> where its top-left goes in the stacked one.
_COLUMN_BOTTOM = 548  # where the columns end and the footer begins
_FOOTER_H = BASE_H - _COLUMN_BOTTOM
_STRIPS: tuple[tuple[tuple[int, int, int, int], tuple[int, int]], ...] = (
    ((0, 0, 560, _COLUMN_BOTTOM), (0, 0)),  # the memoji
    ((560, 0, 464, _COLUMN_BOTTOM), (48, _COLUMN_BOTTOM)),  # the panel, centred under it
    ((0, _COLUMN_BOTTOM, 560, _FOOTER_H), (0, 2 * _COLUMN_BOTTOM)),  # the footer's hint
    ((560, _COLUMN_BOTTOM, 464, _FOOTER_H), (48, 2 * _COLUMN_BOTTOM + _FOOTER_H)),  # its address
)
STACKED_W, STACKED_H = 560, 2 * BASE_H

BACKGROUND_TOP = (38, 34, 92)
BACKGROUND_BOTTOM = (14, 16, 38)
TEXT = (250, 250, 255)
MUTED = (176, 182, 222)
TRACK = (58, 62, 112)
ACCENT = (255, 209, 102)
GOOD = (6, 214, 160)
BAD = (239, 71, 111)
SLEEP_BACKGROUND = (4, 4, 10)
SLEEP_TEXT = (70, 72, 110)
SLEEP_NOTE = (150, 60, 80)

EXPRESSION_COLOURS: dict[str, tuple[int, int, int]] = {
    "angry": (239, 71, 111),
    "disgust": (46, 196, 110),
    "fear": (168, 112, 255),
    "happy": (255, 209, 102),
    "sad": (72, 149, 239),
    "surprise": (255, 140, 66),
    "neutral": (160, 170, 200),
}


class DisplayError(RuntimeError):
    """The requested display mode cannot be opened here (the message says why)."""


# ------------------------------------------------------------------ scenes
# eq=False: scenes carry numpy arrays, and the loop never compares scenes.

@dataclass(eq=False)
class IdleScene:
    """Nothing to mirror (e.g. no camera): say why and where the web page is."""

    web_url: str
    message: str = "Scan to open the booth on your phone"
    detail: str = ""


@dataclass(eq=False)
class LiveScene:
    """A face is seen: the memoji mirrors it, with the preview and every score.

    ``avatar`` is the RGBA memoji of ``expression``; ``avatar_version`` (the
    AvatarCache version it came from) lets the display convert it once.
    ``preview`` is the camera image and ``face_box`` (x, y, w, h) is in its pixels.
    """

    expression: str
    score: float
    scores: Mapping[str, float]
    avatar: np.ndarray | None = None
    avatar_version: int | None = None
    preview: np.ndarray | None = None
    face_box: tuple[int, int, int, int] | None = None
    hint: str = "Press the button to save your memoji"
    web_url: str = ""


@dataclass(eq=False)
class NoFaceScene:
    """No face in view: invite the guest closer; the memoji waits, faded."""

    avatar: np.ndarray | None = None
    avatar_version: int | None = None
    preview: np.ndarray | None = None
    web_url: str = ""


@dataclass(eq=False)
class CountdownScene:
    """Seconds left before the memoji is saved."""

    n: int
    expression: str = "neutral"
    avatar: np.ndarray | None = None
    avatar_version: int | None = None


@dataclass(eq=False)
class SavingScene:
    """The countdown is over and the memoji is being written (a fraction of a second)."""

    expression: str = "neutral"
    avatar: np.ndarray | None = None
    avatar_version: int | None = None


@dataclass(eq=False)
class SavedScene:
    """The memoji just saved, with a QR code of its download page."""

    url: str
    expression: str = "neutral"
    avatar: np.ndarray | None = None
    avatar_version: int | None = None


@dataclass(eq=False)
class ErrorScene:
    """Something the operator must know (camera lost, model missing, storage full)."""

    title: str
    detail: str = ""
    web_url: str = ""


@dataclass(eq=False)
class SleepScene:
    """No guest for a long while: a dark screen with a small invitation that moves every
    minute, so no bright picture stands still on the panel for hours. ``t``: seconds."""

    t: float
    note: str = ""  # what is wrong, when something is (no camera, no model)


Scene = (IdleScene | LiveScene | NoFaceScene | CountdownScene | SavingScene | SavedScene
         | ErrorScene | SleepScene)


# ------------------------------------------------------------------ mode choice

def _has_desktop(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _has_console_screen() -> bool:
    return bool(glob.glob("/dev/dri/card*") or os.path.exists("/dev/fb0"))


def resolve_mode(mode: str, environ: Mapping[str, str] | None = None,
                 console_screen: bool | None = None) -> str:
    """``auto`` -> window on a desktop, fullscreen on a console, none without a display.

    kmsdrm named in the environment (as the systemd unit does) asks for the console's screen:
    fullscreen even before the kernel has made its device (/dev/dri/card*), so a screen not
    up yet fails the start and systemd retries, rather than a booth that runs headless for
    good. Another driver named there (a container's x11 with no display) is left to the
    checks below, as before."""
    if mode not in MODES:
        raise DisplayError(f"display mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "auto":
        return mode
    environ = os.environ if environ is None else environ
    # SDL takes a list ("dummy,offscreen"), tried in order, in any case
    drivers = [d.strip().lower() for d in environ.get("SDL_VIDEODRIVER", "").split(",") if d.strip()]
    if drivers and all(driver in _HEADLESS_DRIVERS for driver in drivers):
        return "none"
    if _has_desktop(environ):
        return "window"
    if "kmsdrm" in drivers or (_has_console_screen() if console_screen is None else console_screen):
        return "fullscreen"
    return "none"


# ------------------------------------------------------------------ the display

@dataclass
class _Layout:
    """Maps the 1024x600 design canvas onto the real surface (uniform scale, centred).

    A portrait surface is ``stacked`` when that draws the design bigger: its scale
    and offsets are then those of the stacked design (STACKED_W x STACKED_H, see
    _STRIPS), not of the 1024x600 one.
    """

    width: int
    height: int
    scale: float = field(init=False)
    ox: float = field(init=False)
    oy: float = field(init=False)
    stacked: bool = field(init=False)

    def __post_init__(self) -> None:
        # stacked where that draws bigger: a tall screen, not a nearly square one
        landscape = min(self.width / BASE_W, self.height / BASE_H)
        stacked = min(self.width / STACKED_W, self.height / STACKED_H)
        self.stacked = stacked > landscape
        design_w, design_h = (STACKED_W, STACKED_H) if self.stacked else (BASE_W, BASE_H)
        self.scale = max(landscape, stacked)
        self.ox = (self.width - design_w * self.scale) / 2
        self.oy = (self.height - design_h * self.scale) / 2

    @classmethod
    def landscape(cls, width: int, height: int, scale: float, oy: float = 0.0) -> _Layout:
        """The 1024x600 design at a chosen scale, from the left edge and ``oy`` down: drawn
        into the stacked canvas, or fitted to the width of a portrait screen."""
        layout = cls(width, height)
        layout.stacked, layout.scale, layout.ox, layout.oy = False, scale, 0.0, oy
        return layout

    def px(self, v: float) -> int:
        return max(1, round(v * self.scale))

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return round(self.ox + x * self.scale), round(self.oy + y * self.scale)

    def rect(self, x: float, y: float, w: float, h: float) -> pygame.Rect:
        left, top = self.pt(x, y)
        return pygame.Rect(left, top, self.px(w), self.px(h))


class Display:
    """The screen (or an off-screen canvas with mode ``none``)."""

    def __init__(self, mode: str = "auto", size: tuple[int, int] = (BASE_W, BASE_H),
                 rotate: int = 0) -> None:
        """``rotate``: degrees to turn the picture clockwise, for a screen mounted on its
        side or upside down (SDL's console driver shows it as the screen reports itself)."""
        if rotate not in ROTATIONS:
            raise DisplayError(f"rotate must be one of {', '.join(map(str, ROTATIONS))}, not {rotate!r}")
        self.rotate = rotate
        self.mode = resolve_mode(mode)
        self._screen: pygame.Surface | None = None
        pygame.font.init()
        if self.mode != "none":
            asked_driver = os.environ.get("SDL_VIDEODRIVER")
            try:
                self._screen = self._open(self.mode, size)
            except DisplayError as error:
                # A driver named in the environment (the systemd unit names kmsdrm) is a
                # request for that screen: fail, so systemd starts the booth again until
                # the screen is up, rather than run forever with a black one.
                if mode != "auto" or asked_driver:
                    raise
                log.warning("no usable display (%s); running without a screen", error)
                self.mode = "none"
        screen_size = self._screen.get_size() if self._screen is not None else tuple(size)
        # What the scenes are drawn on: the screen as the guest sees it, turned.
        self.size = screen_size[::-1] if rotate in (90, 270) else screen_size
        self._canvas: pygame.Surface | None = None
        self._layout = _Layout(*self.size)
        self._stack_canvas: pygame.Surface | None = None  # portrait: the design before stacking
        self._stack_key: tuple | None = None
        self._stack_background: pygame.Surface | None = None
        self._fonts: dict[int, pygame.font.Font] = {}
        self._texts: dict[tuple, pygame.Surface] = {}
        self._wraps: dict[tuple, list[str]] = {}
        self._qr: dict[tuple[str, int], pygame.Surface] = {}
        self._backgrounds: dict[tuple[int, int], pygame.Surface] = {}
        self._avatars: dict[tuple, pygame.Surface] = {}
        self._avatar_version: int | None = None
        self.avatar_conversions = 0  # counted so tests can check "once per version"

    # -- opening

    def _open(self, mode: str, size: tuple[int, int]) -> pygame.Surface:
        """Open the screen; on a console (no desktop) SDL's kmsdrm driver is tried first."""
        chosen = os.environ.get("SDL_VIDEODRIVER")
        drivers: list[str | None] = [chosen]
        if mode == "fullscreen" and not chosen and not _has_desktop(os.environ):
            drivers = ["kmsdrm", None]  # the Pi console; None: let SDL pick
        errors = []
        for driver in drivers:
            if driver:
                os.environ["SDL_VIDEODRIVER"] = driver
            else:
                os.environ.pop("SDL_VIDEODRIVER", None)
            try:
                pygame.display.init()
                if not chosen and pygame.display.get_driver() in _HEADLESS_DRIVERS:
                    # SDL fell back to drawing into memory: there is no screen here
                    raise pygame.error(f"only SDL's {pygame.display.get_driver()} driver works")
                if mode == "fullscreen":
                    screen = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
                    pygame.mouse.set_visible(False)  # a kiosk: no pointer over the memoji
                else:
                    screen = pygame.display.set_mode(tuple(size))
                    pygame.display.set_caption("Memoji Booth")
            except pygame.error as error:
                errors.append(f"{driver or 'SDL default'}: {error}")
                pygame.display.quit()
                if driver != drivers[-1]:
                    log.warning("SDL video driver %s failed (%s); trying the next one",
                                driver, error)
                continue
            log.info("display: %s %dx%d (SDL driver %s)", mode, *screen.get_size(),
                     pygame.display.get_driver())
            return screen
        if chosen:
            os.environ["SDL_VIDEODRIVER"] = chosen
        else:
            os.environ.pop("SDL_VIDEODRIVER", None)
        raise DisplayError(f"cannot open a {mode} display ({'; '.join(errors)}); "
                           "use --display none (or display.mode = \"none\" in the settings) "
                           "to run without a screen")

    @property
    def headless(self) -> bool:
        return self._screen is None

    @property
    def touchscreen(self) -> bool:
        """Whether a tap here captures: fullscreen with a touch device (see poll_events)."""
        if self._screen is None or self.mode != "fullscreen":
            return False
        try:
            from pygame._sdl2 import touch
        except ImportError:  # pygame built without SDL2's touch module
            return False
        return touch.get_num_devices() > 0

    @property
    def avatar_px(self) -> int:
        """The memoji's size on this screen, so the AvatarCache renders no bigger than needed."""
        return self._layout.px(_MEMOJI_SIZE)

    # -- drawing

    def render(self, scene: Scene, target: pygame.Surface | None = None) -> pygame.Surface:
        """Draw ``scene`` into ``target`` (default: a reused off-screen canvas) and return it."""
        if target is None:
            if self._canvas is None:
                self._canvas = self._prepare(pygame.Surface(self.size), alpha=False)
            target = self._canvas
        if target.get_size() != (self._layout.width, self._layout.height):
            self._layout = _Layout(*target.get_size())
        target.blit(self._background(target.get_size()), (0, 0))
        draw = _DRAWERS[type(scene)]
        if not self._layout.stacked:
            draw(self, target, scene)
        elif _stacks(scene):
            self._draw_stacked(draw, target, scene)
        else:  # a message across the whole design: the landscape one, fitted to the width
            width, height = target.get_size()
            scale = width / BASE_W
            layout, self._layout = self._layout, _Layout.landscape(
                width, height, scale, oy=(height - BASE_H * scale) / 2)
            try:
                draw(self, target, scene)
            finally:
                self._layout = layout
        return target

    def _draw_stacked(self, draw, target: pygame.Surface, scene: Scene) -> None:
        """Draw the landscape design into a canvas at the stacked scale, then copy its strips
        into place. The canvas's background is the target's gradient as each strip will
        sit on it, so nothing shows where the strips meet."""
        outer = self._layout
        canvas_size = (round(BASE_W * outer.scale), round(BASE_H * outer.scale))
        key = (canvas_size, target.get_size())
        if self._stack_canvas is None or self._stack_key != key:
            self._stack_canvas = self._prepare(pygame.Surface(canvas_size), alpha=False)
            self._stack_key = key
            self._stack_background = self._stacked_background(canvas_size, outer)
        canvas = self._stack_canvas
        canvas.blit(self._stack_background, (0, 0))
        self._layout = _Layout.landscape(*canvas_size, outer.scale)
        try:
            draw(self, canvas, scene)
        finally:
            self._layout = outer
        for area, place in _strip_pixels(outer):
            target.blit(canvas, place, area)

    def _stacked_background(self, canvas_size: tuple[int, int], outer: _Layout) -> pygame.Surface:
        rows = np.zeros((canvas_size[1], canvas_size[0]))
        for area, (_, top) in _strip_pixels(outer):
            rows[area.top:area.bottom, area.left:area.right] = (
                top + np.arange(area.height)[:, None])  # the screen row each canvas row lands on
        return self._gradient(rows / max(1, outer.height - 1))

    def present(self) -> None:
        """Show what was drawn into the screen (a no-op without one)."""
        if self._screen is not None:
            pygame.display.flip()

    def draw(self, scene: Scene) -> pygame.Surface:
        """Render the scene into the screen's back buffer (off-screen without one); no flip.

        Turned (``rotate``), the scene is drawn off-screen and copied to the screen turned;
        the upright picture is returned either way."""
        if not self.rotate or self._screen is None:
            return self.render(scene, self._screen)
        picture = self.render(scene)
        # pygame turns anticlockwise; multiples of 90 degrees are a plain pixel copy
        self._screen.blit(pygame.transform.rotate(picture, -self.rotate), (0, 0))
        return picture

    def show(self, scene: Scene) -> pygame.Surface:
        """Render the scene on the screen (or off-screen) and present it."""
        surface = self.draw(scene)
        self.present()
        return surface

    def poll_events(self) -> list[str]:
        """Keyboard, touch and window events for the loop: space, Enter or a tap on a
        touchscreen -> capture; Esc/q (window) or Ctrl+Q -> quit.

        A tap arrives twice from SDL, as a finger and as a mouse click marked ``touch``:
        only the finger counts. Taps and clicks capture only fullscreen, where there is
        nothing else to touch (in a window a click may be the one that focuses it, and
        a laptop's trackpad reports resting fingers).
        """
        if self._screen is None:
            return []
        events: list[str] = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                events.append(QUIT)
            elif event.type == pygame.FINGERDOWN and self.mode == "fullscreen":
                events.append(CAPTURE)
            elif event.type == pygame.MOUSEBUTTONDOWN and self.mode == "fullscreen":
                if event.button == 1 and not getattr(event, "touch", False):
                    events.append(CAPTURE)
            elif event.type == pygame.KEYDOWN:
                if event.key in (pygame.K_SPACE, pygame.K_RETURN):
                    events.append(CAPTURE)
                elif event.key == pygame.K_q and event.mod & pygame.KMOD_CTRL:
                    events.append(QUIT)
                elif event.key in (pygame.K_ESCAPE, pygame.K_q) and self.mode == "window":
                    events.append(QUIT)
        return events

    def close(self) -> None:
        if self._screen is not None:
            pygame.display.quit()
            self._screen = None

    # -- cached pieces

    def _font(self, size: float) -> pygame.font.Font:
        px = self._layout.px(size)
        font = self._fonts.get(px)
        if font is None:
            font = self._fonts[px] = pygame.font.Font(None, px)  # pygame's bundled freesansbold
        return font

    def _text(self, text: str, size: float, colour: tuple[int, ...]) -> pygame.Surface:
        key = (text, self._layout.px(size), colour)
        surface = self._texts.get(key)
        if surface is None:
            if len(self._texts) > 512:
                self._texts.clear()
            surface = self._texts[key] = self._font(size).render(text, True, colour)
        return surface

    def _background_of(self, target: pygame.Surface) -> pygame.Surface:
        """What is behind everything drawn into ``target``."""
        if target is self._stack_canvas and self._stack_background is not None:
            return self._stack_background
        return self._background(target.get_size())

    def _background(self, size: tuple[int, int]) -> pygame.Surface:
        surface = self._backgrounds.get(size)
        if surface is None:
            w, h = size
            t = np.broadcast_to(np.linspace(0.0, 1.0, h)[:, None], (h, w))
            surface = self._backgrounds[size] = self._gradient(t)
        return surface

    def _gradient(self, t: np.ndarray) -> pygame.Surface:
        """The background colour at each pixel's ``t`` (h x w, 0 = top, 1 = bottom)."""
        h, w = t.shape
        top, bottom = np.array(BACKGROUND_TOP), np.array(BACKGROUND_BOTTOM)
        t = np.clip(t, 0.0, 1.0)[..., None]
        rgb = np.ascontiguousarray((top * (1 - t) + bottom * t).astype(np.uint8))
        return self._prepare(pygame.image.frombuffer(rgb.tobytes(), (w, h), "RGB"), alpha=False)

    def _prepare(self, surface: pygame.Surface, *, alpha: bool) -> pygame.Surface:
        """Convert to the screen's pixel format once, so blits are fast (needs a screen)."""
        if self._screen is None:
            return surface
        return surface.convert_alpha() if alpha else surface.convert()

    def _avatar(self, image: np.ndarray, version: int | None, expression: str, size: int,
                faded: bool = False, clip_radius: int | None = None) -> pygame.Surface:
        """The memoji as a scaled surface, converted once per AvatarCache version.

        ``clip_radius`` cuts it to a circle (the body ends on the disc's edge,
        not on the image's straight bottom edge).
        """
        if version is not None and version != self._avatar_version:
            self._avatars.clear()
            self._avatar_version = version
        key = (expression, size, faded, clip_radius)
        surface = self._avatars.get(key) if version is not None else None
        if surface is None:
            self.avatar_conversions += 1
            rgba = np.ascontiguousarray(image)
            h, w = rgba.shape[:2]
            surface = pygame.image.frombuffer(rgba.tobytes(), (w, h), "RGBA")
            if (w, h) != (size, size):
                surface = pygame.transform.smoothscale(surface, (size, size))
            surface = self._prepare(surface, alpha=True)
            if clip_radius is not None:
                _clip_to_circle(surface, clip_radius)
            if faded:
                surface.set_alpha(80)
            if version is not None:
                self._avatars[key] = surface
        return surface

    def _qr_code(self, url: str, size: int) -> pygame.Surface:
        """A QR code of ``url`` on a white card with a quiet zone (segno's matrix as rects)."""
        key = (url, size)
        surface = self._qr.get(key)
        if surface is None:
            if len(self._qr) >= _QR_CACHE_MAX:  # each saved memoji has its own URL: stay bounded
                self._qr.clear()
            import segno

            matrix = segno.make(url, error="m").matrix
            quiet = _QR_QUIET_MODULES
            modules = len(matrix) + 2 * quiet
            # never below what a phone reads: a small screen gets a code bigger than asked
            cell = max(_QR_MIN_MODULE_PX, size // modules)
            side = cell * modules
            surface = pygame.Surface((side, side))
            surface.fill((255, 255, 255))
            for row, bits in enumerate(matrix):
                for col, bit in enumerate(bits):
                    if bit:
                        surface.fill((16, 16, 32),
                                     ((col + quiet) * cell, (row + quiet) * cell, cell, cell))
            surface = self._qr[key] = self._prepare(surface, alpha=False)
        return surface


# ------------------------------------------------------------------ drawing helpers

_QR_CACHE_MAX = 8  # the LAN address plus a few saved memojis' pages
_QR_QUIET_MODULES = 2  # white modules around the code
_QR_MIN_MODULE_PX = 3  # smaller, phones miss the code from a step away
_MEMOJI_CENTRE = (290, 282)
_MEMOJI_DISC = 232
_MEMOJI_SIZE = 470
_PREVIEW = (776, 28, 208, 156)  # the camera preview, top right (x, y, w, h)
_PREVIEW_FRAME = 4  # the dark frame around it, each side


def _clip_to_circle(surface: pygame.Surface, radius: int) -> None:
    """Zero the alpha outside a centred circle (anti-aliased over one pixel)."""
    w, h = surface.get_size()
    x = np.arange(w)[:, None] - (w - 1) / 2  # surfarray is indexed [x, y]
    y = np.arange(h)[None, :] - (h - 1) / 2
    inside = np.clip(radius - np.sqrt(x * x + y * y) + 0.5, 0.0, 1.0)
    alpha = pygame.surfarray.pixels_alpha(surface)
    alpha[...] = (alpha * inside).astype(np.uint8)
    del alpha  # unlock the surface


def _blit_centred(target: pygame.Surface, surface: pygame.Surface, centre: tuple[int, int]) -> None:
    target.blit(surface, surface.get_rect(center=centre))


def _blit_text(d: Display, target: pygame.Surface, text: str, size: float, colour, x: float,
               y: float, anchor: str = "topleft") -> pygame.Rect:
    surface = d._text(text, size, colour)
    rect = surface.get_rect(**{anchor: d._layout.pt(x, y)})
    target.blit(surface, rect)
    return rect


def _blit_fitted(d: Display, target: pygame.Surface, text: str, size: float, colour, x: float,
                 y: float, width: float, anchor: str = "topleft") -> pygame.Rect:
    """One line, shrunk until it fits ``width`` design pixels (a long URL cannot wrap)."""
    limit = d._layout.px(width)
    while size > 10 and d._font(size).size(text)[0] > limit:
        size -= 1
    return _blit_text(d, target, text, size, colour, x, y, anchor)


def _wrap(d: Display, text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap to ``width`` design pixels; a word longer than a line (a file's
    path) is broken where it must be, so no text runs past its column. Only plain spaces
    break a line: a no-break space keeps a number with its unit ("4\u00a0s")."""
    font = d._font(size)
    limit = d._layout.px(width)
    key = (text, d._layout.px(size), limit)
    if key in d._wraps:  # drawn every frame; measuring a long word is not free
        return d._wraps[key]
    if len(d._wraps) > 64:
        d._wraps.clear()
    lines: list[str] = d._wraps.setdefault(key, [])
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in filter(None, re.split(r"[ \t]+", paragraph)):
            trial = f"{line} {word}".strip()
            if font.size(trial)[0] <= limit:
                line = trial
                continue
            if line:
                lines.append(line)
            while font.size(word)[0] > limit and len(word) > 1:
                cut = next(n for n in range(len(word) - 1, 0, -1)
                           if font.size(word[:n])[0] <= limit or n == 1)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _blit_paragraph(d: Display, target: pygame.Surface, text: str, size: float, colour, x: float,
                    y: float, width: float, anchor: str = "topleft", max_lines: int = 6) -> float:
    """Wrapped text; returns the design y below it."""
    lines = _wrap(d, text, size, width)[:max_lines]
    step = size * 1.15
    for i, line in enumerate(lines):
        _blit_text(d, target, line, size, colour, x, y + i * step, anchor)
    return y + len(lines) * step


def _soft(colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    """``colour`` mixed into the background: a tinted disc behind the memoji."""
    base = (46, 42, 104)
    return tuple(round(b + (c - b) * amount) for b, c in zip(base, colour, strict=True))  # type: ignore[return-value]


def _disc(d: Display, target: pygame.Surface, centre: tuple[float, float], radius: float,
          colour: tuple[int, int, int]) -> None:
    x, y = d._layout.pt(*centre)
    r = d._layout.px(radius)
    pygame.gfxdraw.filled_circle(target, x, y, r, colour)
    pygame.gfxdraw.aacircle(target, x, y, r, colour)


def _ring(d: Display, target: pygame.Surface, centre: tuple[float, float], radius: float,
          width: float, colour: tuple[int, int, int]) -> None:
    x, y = d._layout.pt(*centre)
    r, w = d._layout.px(radius), d._layout.px(width)
    pygame.draw.circle(target, colour, (x, y), r, w)
    pygame.gfxdraw.aacircle(target, x, y, r, colour)
    pygame.gfxdraw.aacircle(target, x, y, r - w + 1, colour)


def _memoji(d: Display, target: pygame.Surface, avatar: np.ndarray | None, version: int | None,
            expression: str, *, faded: bool = False, centre=_MEMOJI_CENTRE,
            disc=_MEMOJI_DISC, size=_MEMOJI_SIZE) -> None:
    """The memoji on a disc tinted with its expression's colour (a placeholder face while loading)."""
    colour = EXPRESSION_COLOURS.get(expression, EXPRESSION_COLOURS["neutral"])
    tint = _soft(colour, 0.18 if faded else 0.45)
    if avatar is None:  # the first set is still rendering: a friendly stand-in, not a hole
        _disc(d, target, centre, disc, tint)
        cx, cy = centre
        _disc(d, target, (cx, cy), disc * 0.55, _soft(colour, 0.7))
        for ex in (-0.18, 0.18):
            _disc(d, target, (cx + disc * ex, cy - disc * 0.1), disc * 0.05, (30, 30, 60))
        x, y = d._layout.pt(cx, cy + disc * 0.12)
        r = d._layout.px(disc * 0.22)
        pygame.draw.arc(target, (30, 30, 60), (x - r, y - r, 2 * r, 2 * r), math.pi * 1.15,
                        math.pi * 1.85, d._layout.px(5))
        return
    # Background, disc and memoji composed once into one opaque tile per memoji
    # version: per frame that is a plain blit, not an alpha blend of the memoji.
    r = d._layout.px(disc)
    cx, cy = d._layout.pt(*centre)
    tile_rect = pygame.Rect(cx - r - 1, cy - r - 1, 2 * r + 3, 2 * r + 3)
    memoji = d._avatar(avatar, version, expression, d._layout.px(size), faded, clip_radius=r)
    # the stacked canvas's background depends on the screen it is stacked onto
    stacked_onto = d._stack_key if target is d._stack_canvas else None
    key = ("tile", expression, faded, tuple(tile_rect), target.get_size(), stacked_onto)
    tile = d._avatars.get(key) if version is not None else None
    if tile is None:
        tile = pygame.Surface(tile_rect.size)
        tile.blit(d._background_of(target), (0, 0), tile_rect)
        pygame.gfxdraw.filled_circle(tile, r + 1, r + 1, r, tint)
        pygame.gfxdraw.aacircle(tile, r + 1, r + 1, r, tint)
        tile.blit(memoji, memoji.get_rect(center=(r + 1, r + 1)))
        tile = d._prepare(tile, alpha=False)
        if version is not None:
            d._avatars[key] = tile
    target.blit(tile, tile_rect)


def _preview(d: Display, target: pygame.Surface, image: np.ndarray | None,
             box: tuple[int, int, int, int] | None, rect: pygame.Rect) -> None:
    """The camera image, small, with the face box; mirrored like a looking glass."""
    frame = 2 * _PREVIEW_FRAME
    pygame.draw.rect(target, (8, 8, 20), rect.inflate(d._layout.px(frame), d._layout.px(frame)),
                     border_radius=d._layout.px(14))
    if image is None:
        _blit_centred(target, d._text("no camera image", 18, MUTED), rect.center)
        return
    h, w = image.shape[:2]
    small = cv2.resize(image, rect.size, interpolation=cv2.INTER_LINEAR)
    small = np.ascontiguousarray(small[:, ::-1])  # mirrored
    surface = pygame.image.frombuffer(small.tobytes(), rect.size, "RGB")
    target.blit(surface, rect)
    if box is not None:
        x, y, bw, bh = box
        sx, sy = rect.width / w, rect.height / h
        x = w - x - bw  # mirrored, as the image
        face = pygame.Rect(rect.x + round(x * sx), rect.y + round(y * sy),
                           max(2, round(bw * sx)), max(2, round(bh * sy)))
        pygame.draw.rect(target, ACCENT, face.clip(rect), d._layout.px(3),
                         border_radius=d._layout.px(6))


def _footer(d: Display, target: pygame.Surface, hint: str, web_url: str) -> None:
    if hint:
        _blit_text(d, target, hint, 26, TEXT, 40, 572, "midleft")
    if web_url:
        _blit_fitted(d, target, web_url, 20, MUTED, 984, 572, 400, "midright")


# ------------------------------------------------------------------ the scenes

def _draw_live(d: Display, target: pygame.Surface, scene: LiveScene) -> None:
    colour = EXPRESSION_COLOURS.get(scene.expression, TEXT)
    _memoji(d, target, scene.avatar, scene.avatar_version, scene.expression)
    _preview(d, target, scene.preview, scene.face_box, d._layout.rect(*_PREVIEW))
    _blit_text(d, target, "You look", 26, MUTED, 590, 48)
    # "Surprised" and "Disgusted" are wider than the room left of the preview at 56
    _blit_fitted(d, target, expression_title(scene.expression), 56, colour, 588, 80,
                 _PREVIEW[0] - _PREVIEW_FRAME - 12 - 588)
    _blit_text(d, target, f"{round(scene.score * 100)}%", 30, TEXT, 590, 138)
    # one bar per expression, the winner highlighted
    top, row = 214, 46
    for i, label in enumerate(EXPRESSIONS):
        y = top + i * row
        value = float(scene.scores.get(label, 0.0))
        winner = label == scene.expression
        bar_colour = EXPRESSION_COLOURS[label]
        _blit_text(d, target, expression_title(label), 22, TEXT if winner else MUTED, 590, y + 10,
                   "midleft")
        track = d._layout.rect(720, y, 210, 20)
        radius = track.height // 2
        pygame.draw.rect(target, TRACK, track, border_radius=radius)
        filled = round(track.width * min(max(value, 0.0), 1.0))
        if filled > 0:
            pygame.draw.rect(target, bar_colour if winner else _soft(bar_colour, 0.75),
                             (track.x, track.y, max(filled, track.height), track.height),
                             border_radius=radius)
        _blit_text(d, target, f"{round(value * 100)}%", 20, TEXT if winner else MUTED, 984, y + 10,
                   "midright")
    _footer(d, target, scene.hint, scene.web_url)


def _draw_no_face(d: Display, target: pygame.Surface, scene: NoFaceScene) -> None:
    _memoji(d, target, scene.avatar, scene.avatar_version, "neutral", faded=True)
    _preview(d, target, scene.preview, None, d._layout.rect(*_PREVIEW))
    if not scene.web_url:
        _blit_text(d, target, "Step closer", 64, ACCENT, 590, 250)
        _blit_paragraph(d, target, "Look at the camera and your memoji will copy your face.",
                        28, TEXT, 590, 330, 390)
        return
    # Between guests: how to play, and where on the phone to choose the memoji's look.
    _blit_text(d, target, "Step closer", 56, ACCENT, 590, 200)
    _blit_paragraph(d, target, "Look at the camera and your memoji will copy your face.", 26,
                    TEXT, 590, 268, 390, max_lines=2)
    qr = d._qr_code(scene.web_url, d._layout.px(150))
    left, middle = d._layout.pt(592, 440)
    _blit_centred(target, qr, (left + qr.get_width() // 2, middle))
    # beside the code, which a small screen draws bigger than 150 (see _QR_MIN_MODULE_PX)
    text_x = 592 + qr.get_width() / d._layout.scale + 18
    _blit_paragraph(d, target, "Scan to choose your memoji's look on your phone", 22, TEXT,
                    text_x, 400, 984 - text_x, max_lines=3)
    _footer(d, target, "", scene.web_url)


def _draw_countdown(d: Display, target: pygame.Surface, scene: CountdownScene) -> None:
    _memoji(d, target, scene.avatar, scene.avatar_version, scene.expression)
    centre = (790, 262)
    _disc(d, target, centre, 150, _soft(ACCENT, 0.25))
    _ring(d, target, centre, 150, 12, ACCENT)
    _blit_text(d, target, str(max(scene.n, 0)), 220, TEXT, *centre, "center")
    _blit_text(d, target, "Hold that face!", 36, ACCENT, 790, 470, "midtop")


def _draw_saving(d: Display, target: pygame.Surface, scene: SavingScene) -> None:
    """Where the countdown was: the ring full and a word, so the screen does not fall back
    to the live view (and its "press the button") between the last second and "Saved!"."""
    _memoji(d, target, scene.avatar, scene.avatar_version, scene.expression)
    centre = (790, 262)
    _disc(d, target, centre, 150, _soft(GOOD, 0.35))
    _ring(d, target, centre, 150, 12, GOOD)
    _blit_text(d, target, "Saving", 64, TEXT, *centre, "center")


def _draw_saved(d: Display, target: pygame.Surface, scene: SavedScene) -> None:
    _memoji(d, target, scene.avatar, scene.avatar_version, scene.expression)
    if not scene.url:  # web page off, or LAN address not known yet: nowhere to download from
        _blit_text(d, target, "Saved!", 96, GOOD, 790, 262, "center")
        return
    _blit_text(d, target, "Saved!", 64, GOOD, 790, 40, "midtop")
    qr = d._qr_code(scene.url, d._layout.px(280))
    _blit_centred(target, qr, d._layout.pt(790, 272))
    _blit_text(d, target, "Scan to download your memoji", 26, TEXT, 790, 432, "midtop")
    _blit_fitted(d, target, scene.url, 18, MUTED, 790, 470, 420, "midtop")


def _draw_error(d: Display, target: pygame.Surface, scene: ErrorScene) -> None:
    left = 90 if scene.web_url else 512
    anchor = "topleft" if scene.web_url else "midtop"
    # a warning badge: a coral disc with "!"
    cx = 140 if scene.web_url else 512
    _disc(d, target, (cx, 130), 58, BAD)
    _blit_text(d, target, "!", 92, TEXT, cx, 134, "center")
    width = 450 if scene.web_url else 800  # beside the QR code: within the memoji column
    _blit_paragraph(d, target, scene.title, 52, TEXT, left, 220, width, anchor, max_lines=2)
    title_lines = len(_wrap(d, scene.title, 52, width)[:2])
    top = 230 + title_lines * 66
    room = int((_COLUMN_BOTTOM - top) // (26 * 1.15))  # above the footer, which may be stacked
    _blit_paragraph(d, target, scene.detail, 26, MUTED, left, top, width, anchor,
                    max_lines=min(7, room))
    if scene.web_url:
        qr = d._qr_code(scene.web_url, d._layout.px(240))
        _blit_centred(target, qr, d._layout.pt(800, 250))
        _blit_text(d, target, "The booth's page still works:", 22, TEXT, 800, 392, "midtop")
        _blit_fitted(d, target, scene.web_url, 20, ACCENT, 800, 422, 380, "midtop")


def _draw_idle(d: Display, target: pygame.Surface, scene: IdleScene) -> None:
    _blit_text(d, target, "Memoji Booth", 72, TEXT, 60, 90)
    below = _blit_paragraph(d, target, scene.message, 36, ACCENT, 60, 190, 500, max_lines=3)
    if scene.detail:
        _blit_paragraph(d, target, scene.detail, 24, MUTED, 60, below + 18, 500, max_lines=8)
    _disc(d, target, (780, 270), 200, _soft(GOOD, 0.25))
    if scene.web_url:
        qr = d._qr_code(scene.web_url, d._layout.px(250))
        _blit_centred(target, qr, d._layout.pt(780, 262))
        _blit_text(d, target, "Scan with your phone", 26, TEXT, 780, 488, "midtop")
        _blit_fitted(d, target, scene.web_url, 20, MUTED, 780, 522, 420, "midtop")
    else:
        _memoji(d, target, None, None, "happy", centre=(780, 270), disc=200)


def _strip_pixels(outer: _Layout) -> list[tuple[pygame.Rect, tuple[int, int]]]:
    """Each strip of _STRIPS in pixels: its area in the canvas, and where it goes on screen."""
    s = outer.scale
    return [(pygame.Rect(round(x * s), round(y * s), round(w * s), round(h * s)),
             (round(outer.ox + dx * s), round(outer.oy + dy * s)))
            for (x, y, w, h), (dx, dy) in _STRIPS]


def _draw_sleep(d: Display, target: pygame.Surface, scene: SleepScene) -> None:
    target.fill(SLEEP_BACKGROUND)
    minute = int(scene.t // 60)
    spot = random.Random(minute)  # the same place all minute, another the next
    x, y = spot.uniform(60, 700), spot.uniform(60, 470)
    _blit_text(d, target, "Memoji Booth", 40, SLEEP_TEXT, x, y)
    _blit_text(d, target, "Step closer to wake me up", 24, SLEEP_TEXT, x, y + 52)
    if scene.note:
        _blit_text(d, target, scene.note, 24, SLEEP_NOTE, x, y + 84)


def _stacks(scene: Scene) -> bool:
    """Whether the scene keeps within the design's columns (see _STRIPS); an error
    without the page's address, and the sleep screen, use the whole width."""
    if isinstance(scene, SleepScene):
        return False
    return not (isinstance(scene, ErrorScene) and not scene.web_url)


_DRAWERS = {
    IdleScene: _draw_idle,
    LiveScene: _draw_live,
    NoFaceScene: _draw_no_face,
    CountdownScene: _draw_countdown,
    SavingScene: _draw_saving,
    SavedScene: _draw_saved,
    ErrorScene: _draw_error,
    SleepScene: _draw_sleep,
}
