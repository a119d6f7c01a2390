"""Every scene renders under SDL's dummy driver to a PNG that is not blank.

The PNGs land in tests/artifacts/ for a look; with UPDATE_SCREENSHOTS=1 the
live and waiting (no face) scenes are also copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pygame
import pytest

from device import display as screens
from device.avatar import DEFAULT_LOOK, render_rgba
from device.labels import EXPRESSIONS
from tests.fer_frames import face_square_in_frame, make_frame

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
URL = "http://192.168.1.20:8000"


@pytest.fixture(scope="module")
def memojis() -> dict[str, np.ndarray]:
    return {e: render_rgba(DEFAULT_LOOK, e, 470) for e in ("happy", "neutral", "surprise")}


@pytest.fixture(scope="module")
def camera_frame(fer_faces) -> np.ndarray:
    return make_frame(fer_faces["happy"][0])


def scores_for(winner: str) -> dict[str, float]:
    scores = {label: 0.02 for label in EXPRESSIONS}
    scores[winner] = 1 - 0.02 * (len(EXPRESSIONS) - 1)
    return scores


def all_scenes(memojis, camera_frame) -> dict[str, object]:
    box = face_square_in_frame()
    return {
        "live": screens.LiveScene("happy", 0.88, scores_for("happy"), memojis["happy"], 1,
                                  camera_frame, box, web_url=URL),
        "live-loading": screens.LiveScene("surprise", 0.6, scores_for("surprise")),
        "no-face": screens.NoFaceScene(memojis["neutral"], 1, camera_frame, web_url=URL),
        "countdown": screens.CountdownScene(3, "happy", memojis["happy"], 1),
        "saving": screens.SavingScene("happy", memojis["happy"], 1),
        "saved": screens.SavedScene(f"{URL}/gallery/memoji-20261124-081500-000000-happy.png",
                                    "happy", memojis["happy"], 1),
        "error-camera-lost": screens.ErrorScene(
            "Camera lost", "webcam:0 stopped sending pictures. Reconnecting in 4 s.", URL),
        "error-model-missing": screens.ErrorScene(
            "Model missing", "Expression model not found: device/models/emotion.tflite."),
        "error-storage-full": screens.ErrorScene(
            "Storage full", "The memory card is full. Delete some memojis on the web page.", URL),
        "idle": screens.IdleScene(
            URL, "No camera found",
            "Tried picamera2 (not installed), webcam:0 (no /dev/video0). Plug one in: the booth "
            "looks again every few seconds. Meanwhile, the web page turns an uploaded photo "
            "into a memoji."),
    }


def surface_rgb(surface: pygame.Surface) -> np.ndarray:
    return pygame.surfarray.array3d(surface).transpose(1, 0, 2)


def assert_not_blank(rgb: np.ndarray) -> None:
    pixels = rgb.reshape(-1, 3).astype(np.int32)
    colours = np.unique(pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2])
    assert len(colours) > 50, f"only {len(colours)} colours: looks blank"
    assert rgb.std() > 20, "almost uniform"


@pytest.mark.parametrize("name", [
    "live", "live-loading", "no-face", "countdown", "saving", "saved", "error-camera-lost",
    "error-model-missing", "error-storage-full", "idle"])
def test_scene_renders_a_non_blank_png(name, memojis, camera_frame):
    display = screens.Display("none", (1024, 600))
    scene = all_scenes(memojis, camera_frame)[name]
    surface = display.render(scene)
    assert surface.get_size() == (1024, 600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"kiosk-{name}.png"
    pygame.image.save(surface, str(path))
    assert_not_blank(surface_rgb(pygame.image.load(str(path))))
    if name in ("live", "no-face") and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"kiosk-{name}.png")


def test_live_scene_draws_the_memoji_the_bars_and_the_face_box(memojis, camera_frame):
    display = screens.Display("none", (1024, 600))
    box = face_square_in_frame()
    rgb = surface_rgb(display.render(screens.LiveScene(
        "happy", 0.88, scores_for("happy"), memojis["happy"], 1, camera_frame, box)))
    # the winning bar is filled in the expression's colour
    happy = np.array(screens.EXPRESSION_COLOURS["happy"])
    assert (np.abs(rgb.astype(int) - happy).sum(axis=2) < 10).sum() > 2000
    # the face box (accent colour) sits in the preview, top right
    accent = np.abs(rgb[:200, 760:].astype(int) - np.array(screens.ACCENT)).sum(axis=2) < 10
    assert accent.sum() > 100


def test_scenes_scale_to_a_full_hd_screen(memojis, camera_frame):
    display = screens.Display("none", (1920, 1080))
    for scene in all_scenes(memojis, camera_frame).values():
        assert_not_blank(surface_rgb(display.render(scene)))


PORTRAIT = (720, 1280)  # the Raspberry Pi Touch Display 2, as the console sees it


@pytest.mark.parametrize("name", [
    "live", "live-loading", "no-face", "countdown", "saving", "saved", "error-camera-lost",
    "error-model-missing", "error-storage-full", "idle"])
def test_a_portrait_screen_stacks_the_design_and_uses_its_height(name, memojis, camera_frame):
    """The 1024x600 design used to be a band across the middle of a portrait screen (the
    memoji 330 px on a 720x1280 one); stacked, the memoji is 501 px and nothing is cut."""
    display = screens.Display("none", PORTRAIT)
    scene = all_scenes(memojis, camera_frame)[name]
    surface = display.render(scene)
    assert surface.get_size() == PORTRAIT
    rgb = surface_rgb(surface)
    assert_not_blank(rgb)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # a fresh clone has none; -k may run this first
    pygame.image.save(surface, str(ARTIFACTS / f"kiosk-portrait-{name}.png"))
    if name == "live" and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / f"kiosk-portrait-{name}.png", SCREENSHOTS / "kiosk-portrait.png")
    assert display.avatar_px >= 500
    if name in ("live", "countdown", "saved", "no-face"):  # the memoji above, the panel below
        half = PORTRAIT[1] // 2
        without = surface_rgb(screens.Display("none", PORTRAIT).render(
            dataclasses.replace(scene, avatar=None)))
        memoji = np.abs(rgb.astype(int) - without).sum(axis=2) > 30  # what the memoji drew
        assert memoji[:half].sum() > 5000 and not memoji[half:].any()
        if name != "no-face":  # the waiting memoji is faded: no skin-coloured pixels
            skin = np.abs(rgb[:half].astype(int) - (237, 185, 138)).sum(axis=2) < 30
            assert skin.sum() > 5000
        assert rgb[half:].std() > 20


@pytest.mark.parametrize("size, stacked", [((720, 1280), True), ((600, 1024), True),
                                           ((1080, 1920), True), ((1000, 1001), False),
                                           ((800, 900), False), ((1024, 600), False)])
def test_a_screen_is_stacked_only_where_that_draws_the_memoji_bigger(size, stacked):
    display = screens.Display("none", size)
    landscape = round(470 * min(size[0] / 1024, size[1] / 600))
    assert display._layout.stacked is stacked
    assert display.avatar_px >= landscape


def test_stacked_strips_meet_without_a_seam(memojis, camera_frame):
    """Each strip's background is the screen's gradient where it lands: no step in colour
    between the memoji and the panel, nor at the panel's sides."""
    display = screens.Display("none", PORTRAIT)
    rgb = surface_rgb(display.render(all_scenes(memojis, camera_frame)["live"])).astype(int)
    column = rgb[:, 10]  # left of everything drawn: background only
    assert np.abs(np.diff(column, axis=0)).max() <= 2
    row = rgb[1150]  # between the footer's two lines
    assert np.abs(np.diff(row, axis=0)).max() <= 2
    row = rgb[560]  # under the memoji's disc, above the panel's text
    assert np.abs(np.diff(row, axis=0)).max() <= 2


def test_a_stacked_screen_of_another_height_gets_its_own_memoji_tile(memojis, camera_frame):
    """Two heights with the same width share the canvas size; the memoji's cached tile
    carried the first one's background."""
    scene = all_scenes(memojis, camera_frame)["countdown"]
    display = screens.Display("none", (560, 1300))
    display.render(scene, pygame.Surface((560, 1300)))
    reused = surface_rgb(display.render(scene, pygame.Surface((560, 1500))))
    fresh = surface_rgb(screens.Display("none", (560, 1500)).render(
        scene, pygame.Surface((560, 1500))))
    assert np.array_equal(reused, fresh)


def test_a_long_path_in_an_error_stays_in_its_column_on_a_portrait_screen(memojis):
    """Words were never broken: a model's path ran past the memoji column, and stacking
    copied the overflow beside the QR code; nine lines ran into the footer's strip."""
    path = "/opt/memoji-booth/venv/lib/python3.11/site-packages/device/models/emotion.tflite"
    scene = screens.ErrorScene("Model missing", f"Expression model not found: {path}. " * 3, URL)
    display = screens.Display("none", (1024, 600))
    lines = screens._wrap(display, scene.detail, 26, 450)
    assert all(display._font(26).size(line)[0] <= display._layout.px(450) for line in lines)
    assert "".join(lines).replace(" ", "") == scene.detail.replace(" ", "")  # nothing lost
    portrait = screens.Display("none", PORTRAIT)
    rgb = surface_rgb(portrait.render(scene)).astype(int)
    background = surface_rgb(portrait.render(screens.ErrorScene("Model missing", "", URL)))
    changed = np.abs(rgb - background).sum(axis=2) > 30
    assert not changed[560:].any()  # nothing but the QR code and its words below the column
    # (those are in both renders), and nothing of the detail in the footer's strip


@pytest.mark.parametrize("name, url", [
    ("saved", f"{URL}/gallery/memoji-20261124-081500-000000-happy.png"), ("no-face", URL)])
def test_qr_codes_still_read_on_a_portrait_screen(name, url, memojis, camera_frame):
    import cv2

    display = screens.Display("none", PORTRAIT)
    rgb = surface_rgb(display.render(all_scenes(memojis, camera_frame)[name]))
    assert cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb[:, :, ::-1]))[0] == url


@pytest.mark.parametrize("size", [(1024, 600), PORTRAIT])
def test_the_sleep_screen_is_dark_and_its_words_move_every_minute(size):
    display = screens.Display("none", size)
    first = surface_rgb(display.render(screens.SleepScene(t=600.0)))
    same_minute = surface_rgb(display.render(screens.SleepScene(t=659.0)))
    next_minute = surface_rgb(display.render(screens.SleepScene(t=660.0)))
    assert first.mean() < 8  # dark: a panel left on all night keeps no picture
    assert (first.max(axis=2) > 40).sum() > 500  # but the invitation is there
    assert np.array_equal(first, same_minute) and not np.array_equal(first, next_minute)


# ------------------------------------------------------------------ layout on real screens

# The screens people put on a booth: the official 7" Pi display, common HDMI panels and
# monitors, a portrait monitor, a square HAT and a small 3.5" HAT.
SCREEN_SIZES = [(800, 480), (1024, 600), (1280, 720), (1920, 1080), (1080, 1920), (720, 720),
                (480, 320)]
LONG_URL = "http://192.168.100.200:8000"


def layout_scenes(memojis, camera_frame) -> dict[str, object]:
    """Every scene, plus the longest words each place gets (titles, hints, addresses)."""
    box = face_square_in_frame()
    scenes = all_scenes(memojis, camera_frame)
    scenes.update({
        f"live-{label}": screens.LiveScene(
            label, 0.6, scores_for(label), memojis["happy"], 1, camera_frame, box,
            hint="Press the button or tap the screen to save your memoji", web_url=LONG_URL)
        for label in EXPRESSIONS})
    scenes.update({
        "no-face-long-url": screens.NoFaceScene(memojis["neutral"], 1, camera_frame,
                                                web_url=LONG_URL),
        "no-face-no-url": screens.NoFaceScene(memojis["neutral"], 1, camera_frame),
        "countdown-10": screens.CountdownScene(10, "happy", memojis["happy"], 1),
        "saved-no-url": screens.SavedScene("", "happy", memojis["happy"], 1),
        "saved-long-url": screens.SavedScene(
            f"{LONG_URL}/gallery/memoji-20261124-081500-000000-surprise.png", "surprise",
            memojis["surprise"], 1),
        "error-could-not-save": screens.ErrorScene(
            "Could not save", "This memoji was not saved: the memory card cannot be written "
            "(Read-only file system). Tell the operator.", LONG_URL),
        "idle-no-url": screens.IdleScene("", "No camera found", "Plug one in."),
        "sleep": screens.SleepScene(600.0, "Camera lost"),
    })
    return scenes


def drawn_boxes(display, scene, monkeypatch) -> list[tuple[str, pygame.Rect]]:
    """Where ``render`` put each line of text, QR code and camera preview, in screen pixels.

    A portrait screen draws into a canvas whose strips are then moved (see _STRIPS): a box
    is mapped to where its strip lands, and a box across two strips is reported as cut."""
    drawn: list[tuple[str, pygame.Rect, pygame.Surface]] = []
    blit_text, blit_centred, preview = screens._blit_text, screens._blit_centred, screens._preview

    def recording_text(d, target, text, *args, **kwargs):
        rect = blit_text(d, target, text, *args, **kwargs)
        drawn.append((f"text {text!r}", rect.copy(), target))
        return rect

    def recording_centred(target, surface, centre):
        blit_centred(target, surface, centre)
        drawn.append((f"picture {surface.get_size()}", surface.get_rect(center=centre), target))

    def recording_preview(d, target, image, box, rect):
        preview(d, target, image, box, rect)
        frame = rect.inflate(*[d._layout.px(2 * screens._PREVIEW_FRAME)] * 2)  # as drawn
        drawn.append(("camera preview", frame, target))

    monkeypatch.setattr(screens, "_blit_text", recording_text)
    monkeypatch.setattr(screens, "_blit_centred", recording_centred)
    monkeypatch.setattr(screens, "_preview", recording_preview)
    display.render(scene)
    boxes = []
    for name, rect, target in drawn:
        if target is not display._stack_canvas or not display._layout.stacked:
            boxes.append((name, rect))
            continue
        strips = [(area, place) for area, place in screens._strip_pixels(display._layout)
                  if area.colliderect(rect)]
        if len(strips) != 1 or not strips[0][0].contains(rect):
            boxes.append((f"{name}, cut between strips", pygame.Rect(-1, -1, 0, 0)))
            continue
        area, (x, y) = strips[0]
        boxes.append((name, rect.move(x - area.x, y - area.y)))
    return boxes


@pytest.mark.parametrize("size", SCREEN_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_scene_keeps_its_words_and_pictures_on_screen_and_apart(size, memojis,
                                                                     camera_frame, monkeypatch):
    """Nothing runs off the screen or over anything else: the live screen's "Surprised"
    and "Disgusted" ran under the camera preview at every size."""
    screen = pygame.Rect((0, 0), size)
    problems = []
    for scene_name, scene in layout_scenes(memojis, camera_frame).items():
        boxes = drawn_boxes(screens.Display("none", size), scene, monkeypatch)
        for i, (name, rect) in enumerate(boxes):
            if not screen.contains(rect):
                problems.append(f"{scene_name}: {name} {rect} is not on the screen")
            for other, other_rect in boxes[i + 1:]:
                inside = rect.contains(other_rect) or other_rect.contains(rect)  # a caption
                if rect.colliderect(other_rect) and not inside:
                    problems.append(f"{scene_name}: {name} {rect} overlaps {other} {other_rect}")
    assert not problems, "\n".join(problems)


def test_the_live_screen_tells_a_guest_the_words_the_phone_page_uses(memojis, camera_frame,
                                                                     monkeypatch):
    """"You look Scared", and "Scared" in the gallery too: one table (labels.EXPRESSION_TITLES)."""
    from device.labels import EXPRESSION_TITLES

    box = face_square_in_frame()
    scene = screens.LiveScene("fear", 0.6, scores_for("fear"), memojis["happy"], 1, camera_frame,
                              box)
    texts = [name for name, _ in drawn_boxes(screens.Display("none", (1024, 600)), scene,
                                             monkeypatch) if name.startswith("text ")]
    words = [repr(word) for word in EXPRESSION_TITLES.values()]
    # the big word, then one per score bar, in the dataset's order
    assert [text for text in texts if text[5:] in words] == [
        f"text {EXPRESSION_TITLES[label]!r}" for label in ("fear", *EXPRESSIONS)]


@pytest.mark.parametrize("size", SCREEN_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_qr_code_modules_are_big_enough_for_a_phone_on_every_screen(size, memojis, camera_frame,
                                                                    monkeypatch):
    """At least 3 px a module, the quiet zone kept: the waiting screen's code of the page
    was 2 px a module on a 480x320 screen (70 px for 29 modules)."""
    import segno

    drawn = []
    qr_code = screens.Display._qr_code

    def recording_qr_code(self, url, size):
        surface = qr_code(self, url, size)
        drawn.append((url, surface))
        return surface

    monkeypatch.setattr(screens.Display, "_qr_code", recording_qr_code)
    for scene in layout_scenes(memojis, camera_frame).values():
        screens.Display("none", size).render(scene)
    assert drawn
    for url, surface in drawn:
        modules = len(segno.make(url, error="m").matrix)
        cell = surface.get_width() / (modules + 2 * screens._QR_QUIET_MODULES)
        assert cell >= 3, f"{url}: {cell:.1f} px a module"
        rgb = surface_rgb(surface)
        quiet = round(cell * screens._QR_QUIET_MODULES)
        assert rgb[:quiet].min() == 255 and rgb[:, :quiet].min() == 255


def test_memoji_surfaces_are_converted_once_per_cache_version(memojis, camera_frame):
    display = screens.Display("none", (1024, 600))
    for _ in range(5):
        display.render(screens.LiveScene("happy", 0.9, scores_for("happy"), memojis["happy"], 7,
                                         camera_frame))
    assert display.avatar_conversions == 1
    display.render(screens.LiveScene("happy", 0.9, scores_for("happy"), memojis["happy"], 8))
    assert display.avatar_conversions == 2  # a new look: converted again, once


def test_qr_code_is_a_real_qr_code_of_the_url():
    display = screens.Display("none", (1024, 600))
    surface = display._qr_code(URL, 250)
    rgb = surface_rgb(surface)
    dark = rgb.mean(axis=2) < 128
    assert 0.3 < dark.mean() < 0.7  # modules, not a solid block
    assert not dark[:4].any() and not dark[:, :4].any()  # quiet zone
    import cv2

    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert decoded == URL


def test_between_guests_the_screen_shows_a_qr_code_of_the_page(memojis, camera_frame):
    """Guests find the look page from the waiting screen; with no page, no code."""
    import cv2

    display = screens.Display("none", (1024, 600))
    waiting = all_scenes(memojis, camera_frame)["no-face"]
    rgb = surface_rgb(display.render(waiting))
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert decoded == URL
    rgb = surface_rgb(display.render(screens.NoFaceScene(memojis["neutral"], 1, camera_frame)))
    assert cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb[:, :, ::-1]))[0] == ""


def test_qr_codes_of_many_saved_memojis_do_not_pile_up_in_memory(memojis):
    """Every saved memoji has its own URL; a kiosk running for days must not keep them all."""
    display = screens.Display("none", (1024, 600))
    for i in range(40):
        display.render(screens.SavedScene(f"{URL}/gallery/memoji-20261124-081500-{i:06d}-happy.png",
                                          "happy", memojis["happy"], 1))
    assert len(display._qr) <= 8


def test_auto_mode_picks_window_fullscreen_or_none():
    assert screens.resolve_mode("auto", {"DISPLAY": ":0"}, console_screen=True) == "window"
    assert screens.resolve_mode("auto", {"WAYLAND_DISPLAY": "wayland-0"}, False) == "window"
    assert screens.resolve_mode("auto", {}, console_screen=True) == "fullscreen"
    assert screens.resolve_mode("auto", {}, console_screen=False) == "none"
    assert screens.resolve_mode("window", {}, console_screen=False) == "window"
    # systemd names kmsdrm: a screen whose device the kernel has not made yet is still asked for
    assert screens.resolve_mode("auto", {"SDL_VIDEODRIVER": "kmsdrm"}, False) == "fullscreen"
    assert screens.resolve_mode("auto", {"SDL_VIDEODRIVER": "dummy"}, True) == "none"
    assert screens.resolve_mode("auto", {"SDL_VIDEODRIVER": "Dummy, offscreen"}, True) == "none"
    # another driver named with no display and no screen (a container, CI): headless as before
    assert screens.resolve_mode("auto", {"SDL_VIDEODRIVER": "x11"}, False) == "none"
    with pytest.raises(screens.DisplayError):
        screens.resolve_mode("hologram")


def test_window_keys_capture_and_quit():
    display = screens.Display("window", (640, 400))  # SDL's dummy driver under tests
    try:
        assert display.mode == "window" and not display.headless
        for key in (pygame.K_SPACE, pygame.K_ESCAPE, pygame.K_x):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert display.poll_events() == [screens.CAPTURE, screens.QUIT, screens.QUIT]
        surface = display.show(screens.ErrorScene("Camera lost", "Reconnecting"))
        assert surface.get_size() == (640, 400)
    finally:
        display.close()


def test_a_tap_on_a_touchscreen_captures_once():
    """SDL sends a tap as a finger and again as a mouse click marked touch: one capture.
    Taps and clicks capture only fullscreen."""
    def tap_and_clicks():
        pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, touch_id=1, finger_id=0,
                                             x=0.5, y=0.5, dx=0, dy=0, pressure=1.0))
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(320, 200),
                                             touch=True))  # SDL's copy of the tap
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(320, 200),
                                             touch=False))  # a mouse
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=3, pos=(320, 200),
                                             touch=False))

    display = screens.Display("window", (640, 400))
    try:
        tap_and_clicks()
        assert display.poll_events() == []  # a window: a click may focus it, a trackpad rests
        assert not display.touchscreen  # so the screen does not offer a tap
        display.mode = "fullscreen"  # as on the kiosk's console
        tap_and_clicks()
        assert display.poll_events() == [screens.CAPTURE, screens.CAPTURE]  # the tap, the mouse
    finally:
        display.close()


@pytest.mark.parametrize("rotate, memoji_side", [(90, "right"), (180, "right"), (270, "left"),
                                                  (0, "left")])
def test_a_turned_screen_gets_the_picture_turned(rotate, memoji_side, memojis, camera_frame):
    """A landscape monitor mounted on its side: the scenes are drawn for the upright
    (portrait) picture, then turned clockwise onto the screen."""
    display = screens.Display("window", (640, 400), rotate=rotate)
    try:
        picture = display.show(all_scenes(memojis, camera_frame)["live"])
        assert picture.get_size() == ((400, 640) if rotate in (90, 270) else (640, 400))
        screen = surface_rgb(pygame.display.get_surface()).astype(int)
        assert screen.shape[:2] == (400, 640)
        skin = np.abs(screen - (237, 185, 138)).sum(axis=2) < 30
        left, right = skin[:, :320].sum(), skin[:, 320:].sum()
        assert (right > 5 * left) if memoji_side == "right" else (left > 5 * right)
    finally:
        display.close()
    with pytest.raises(screens.DisplayError, match="rotate must be one of 0, 90, 180, 270"):
        screens.Display("none", rotate=45)


def test_headless_display_has_no_events():
    assert screens.Display("none").poll_events() == []


@pytest.mark.skip_ok_in_ci
@pytest.mark.skipif(bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
                    or screens._has_console_screen(), reason="a real screen is attached")
def test_no_screen_fullscreen_tries_kmsdrm_then_fails_clearly_and_auto_runs_headless(
        monkeypatch, caplog):
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    with pytest.raises(screens.DisplayError, match="--display none"):
        screens.Display("fullscreen")
    assert any("kmsdrm" in r.getMessage() for r in caplog.records)
    assert "SDL_VIDEODRIVER" not in os.environ  # left as it was found
    assert screens.Display("auto").headless


@pytest.mark.skip_ok_in_ci
@pytest.mark.skipif(bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
                    or screens._has_console_screen(), reason="a real screen is attached")
def test_auto_with_a_screen_that_will_not_open_fails_only_when_a_driver_was_named(
        monkeypatch, caplog):
    """Under systemd (SDL_VIDEODRIVER=kmsdrm) a screen not up yet must fail the start, so
    systemd retries; elsewhere auto runs headless and says why."""
    monkeypatch.setattr(screens, "_has_console_screen", lambda: True)  # a Pi whose HDMI is not up
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    with caplog.at_level(logging.WARNING, logger="device.display"):
        assert screens.Display("auto").headless
    assert "no usable display (cannot open a fullscreen display (kmsdrm:" in caplog.text
    monkeypatch.setenv("SDL_VIDEODRIVER", "kmsdrm")
    with pytest.raises(screens.DisplayError, match='display.mode = "none"'):
        screens.Display("auto")
    assert os.environ["SDL_VIDEODRIVER"] == "kmsdrm"
    # ... and one whose device (/dev/dri/card*) is not there yet, at boot: not headless for good
    monkeypatch.setattr(screens, "_has_console_screen", lambda: False)
    with pytest.raises(screens.DisplayError, match='display.mode = "none"'):
        screens.Display("auto")


def test_a_no_break_space_keeps_a_number_with_its_unit():
    """The camera-lost screen wrapped as "Reconnecting in 4" / "s.": str.split() breaks on
    a no-break space too."""
    display = screens.Display("none", (1024, 600))
    width = display._font(26).size("Reconnecting in 4")[0] / display._layout.px(1)
    lines = screens._wrap(display, "Reconnecting in 4\u00a0s.", 26, width)
    assert lines == ["Reconnecting in", "4\u00a0s."]
