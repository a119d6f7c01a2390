"""The LAN page with Flask's test client: every route, every bad input, the PIN and CSRF flows."""

from __future__ import annotations

import errno
import io
import itertools
import json
import logging
import math
import os
import random
import re
import socket
import stat
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from urllib.parse import unquote

import cv2
import numpy as np
import pytest

from device.avatar import DEFAULT_LOOK, PRESETS, Look, apply_preset, preset_fields, render_png
from device.gallery import SAVED_PX, THUMB_PX, Gallery, LookStore, StorageFullError
from device.labels import EXPRESSIONS
from device.webui import create_app, start_in_thread
from device.webui.kiosk import AnalyserUnavailable
from device.webui.photos import image_size
from tests.conftest import card_refuses_to_remove
from tests.webui_fakes import BrokenBooth, FakeAnalyser, FakeBooth, make_config, stepping_clock

PIN = "2468"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def analyser():
    return FakeAnalyser("surprise")


@pytest.fixture
def make_app(tmp_path, analyser):
    """create_app on tmp_path; keyword `booth`, `pin`, settings overrides and test_config entries."""

    def make(booth=None, pin="", test_config=None, **overrides):
        config = make_config(tmp_path / "data", web_pin=pin, **overrides)
        settings = {"TESTING": True, "ANALYSER_FACTORY": lambda: analyser}
        settings.update(test_config or {})
        return create_app(config, booth=booth, test_config=settings)

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(client, path="/look") -> str:
    """Load a page as a browser would and read its CSRF token from the meta tag."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def browser_headers(client, **extra) -> dict:
    return {"X-CSRF-Token": csrf_of(client), "Origin": "http://localhost", **extra}


def jpeg_of(image_rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def bright_photo() -> bytes:
    return jpeg_of(np.full((480, 640, 3), 180, np.uint8))


def upload(client, data: bytes, filename="selfie.jpg", headers=None, url="/api/photo"):
    from io import BytesIO

    return client.post(url, data={"photo": (BytesIO(data), filename)},
                       content_type="multipart/form-data",
                       headers=browser_headers(client) if headers is None else headers)


def saved_gallery(app, count: int) -> list[str]:
    """Save `count` memojis (oldest first) into the app's gallery; their names, newest first."""
    gallery = app.extensions["kiosk"].gallery
    gallery._clock = stepping_clock()  # names one second apart, in save order
    names = []
    for i in range(count):
        expression = EXPRESSIONS[i % len(EXPRESSIONS)]
        png = render_png(DEFAULT_LOOK, expression, 128)
        names.append(gallery.save(png, expression=expression, score=0.5, look=DEFAULT_LOOK.to_dict()).name)
    return names[::-1]


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ["/", "/look", "/live", "/gallery", "/photo"])
def test_every_page_renders_with_a_csrf_token_and_local_assets_only(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'<meta name="csrf-token" content="[\w-]{20,}">', html)
    assert 'name="viewport"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert not re.match(r"(https?:)?//", asset), f"{path} loads {asset} from outside the booth"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_page_names_each_expression_with_the_kiosk_screens_word(make_app, tmp_path):
    """A guest the kiosk told "You look Scared" found "Fear" under that memoji in the
    gallery: the page now says the screen's words (and its scripts get the same table)."""
    booth = FakeBooth(tmp_path, status={"state": "live", "expression": "fear", "score": 0.6})
    app = make_app(booth=booth)
    client = app.test_client()
    gallery = app.extensions["kiosk"].gallery
    name = gallery.save(render_png(DEFAULT_LOOK, "fear", 128), expression="fear", score=0.6,
                        look=DEFAULT_LOOK.to_dict()).name
    assert "<strong>Scared</strong>" in client.get("/gallery").get_data(as_text=True)
    entry = client.get(f"/gallery/{name}").get_data(as_text=True)
    assert "<title>Scared memoji · Memoji Booth</title>" in entry
    assert 'alt="Scared memoji"' in entry
    live = client.get("/live").get_data(as_text=True)
    assert re.search(r'id="expression" class="expression">Scared<', live)
    titles = json.loads(re.search(
        r'<script type="application/json" id="expression-titles">(.*?)</script>', live).group(1))
    assert titles == {"angry": "Angry", "disgust": "Disgusted", "fear": "Scared", "happy": "Happy",
                      "sad": "Sad", "surprise": "Surprised", "neutral": "Neutral"}
    bars = re.findall(r'<span class="bar-label">([^<]+)</span>', live)
    assert bars == [titles[label] for label in EXPRESSIONS]
    chips = re.findall(r'data-expression="[a-z]+"\s+aria-checked="\w+">([^<]+)</button>',
                       client.get("/look").get_data(as_text=True))
    assert chips == bars


def test_every_page_has_one_title_heading_first_and_no_skipped_levels(app, client):
    """Screen reader users jump by headings: each page starts with its one h1, and an h3
    never follows an h1 directly."""
    name = saved_gallery(app, 1)[0]
    for path in ["/look", "/live", "/gallery", "/photo", f"/gallery/{name}", "/login", "/no-such-page"]:
        html = client.get(path).get_data(as_text=True)
        levels = [int(level) for level in re.findall(r"<h([1-6])\b", html)]
        assert levels[:1] == [1] and levels.count(1) == 1, (path, levels)
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), (path, levels)


def test_static_files_name_no_outside_address(app):
    folder = app.static_folder
    import pathlib

    for file in pathlib.Path(folder).iterdir():
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), file.name


def test_look_page_offers_every_choice_and_the_saved_look(client):
    from device.avatar import LOOK_CHOICES

    html = client.get("/look").get_data(as_text=True)
    for field, choices in LOOK_CHOICES.items():
        for value in choices:
            assert f'name="{field}" value="{value}"' in html or f'<option value="{value}"' in html, (field, value)
    for expression in EXPRESSIONS:
        assert f'data-expression="{expression}"' in html
    for preset in PRESETS:
        assert f'data-preset="{preset}"' in html
    editor = json.loads(re.search(r'<script type="application/json" id="editor-data">(.*?)</script>',
                                  html, re.S).group(1))
    assert editor["look"] == DEFAULT_LOOK.to_dict()
    assert set(editor["presets"]) == set(PRESETS)
    assert "The astronaut suit keeps its own colours." in html


# ---------------------------------------------------------------- look API


def test_get_look_is_the_default_until_saved(client):
    assert client.get("/api/look").get_json() == DEFAULT_LOOK.to_dict()


def test_put_look_saves_and_survives_a_restart(make_app, tmp_path):
    client = make_app().test_client()
    response = client.put("/api/look", json={"hair_color": "BLACK", "accessory": "ROUND"})
    assert response.status_code == 200, response.get_json()
    expected = DEFAULT_LOOK.replace(hair_color="BLACK", accessory="ROUND")
    assert response.get_json() == expected.to_dict()
    assert LookStore(tmp_path / "data" / "look.json").load() == expected
    restarted = make_app().test_client()
    assert restarted.get("/api/look").get_json() == expected.to_dict()


def test_put_look_with_a_booth_applies_it_at_once(make_app, tmp_path):
    booth = FakeBooth(tmp_path)
    client = make_app(booth=booth).test_client()
    assert client.put("/api/look", json={"preset": "male"}).status_code == 200
    assert booth.looks == [apply_preset(DEFAULT_LOOK, "male")]
    assert LookStore(tmp_path / "data" / "look.json").load() == apply_preset(DEFAULT_LOOK, "male")


@pytest.mark.parametrize("body, field", [
    ({"hair_colour": "BLACK"}, "hair_colour"),
    ({"hair_color": "PLAID"}, "hair_color"),
    ({"skin_color": 3}, "skin_color"),
    ({"preset": "robot"}, "preset"),
    ({"preset": ["female"]}, "preset"),
    ({"preset": {"a": 1}}, "preset"),
    ({"accessory": ""}, "accessory"),
])
def test_put_look_rejects_unknown_fields_and_values_naming_the_field(client, body, field):
    response = client.put("/api/look", json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["field"] == field
    assert field in answer["error"]
    assert client.get("/api/look").get_json() == DEFAULT_LOOK.to_dict()  # nothing saved


@pytest.mark.parametrize("data, content_type", [
    ("[1, 2]", "application/json"),
    ("not json", "application/json"),
    ("hair_color=BLACK", "text/plain"),
])
def test_put_look_needs_a_json_object(client, data, content_type):
    response = client.put("/api/look", data=data, content_type=content_type)
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


def test_put_look_with_json_nested_beyond_recursion_is_400(app):
    deep = "[" * 100_000 + "]" * 100_000
    response = app.test_client(use_cookies=False).put("/api/look", data=deep,
                                                      content_type="application/json")
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


def test_look_options_list_fields_presets_and_expressions(client):
    options = client.get("/api/look/options").get_json()
    names = [f["name"] for f in options["fields"]]
    assert names == list(DEFAULT_LOOK.to_dict())
    hair = next(f for f in options["fields"] if f["name"] == "hair_color")
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", o["swatch"]) for o in hair["options"])
    assert options["expressions"] == list(EXPRESSIONS)
    assert options["presets"]["female"] == preset_fields("female")


def test_random_look_is_valid_and_not_saved(client):
    look = client.get("/api/look/random").get_json()
    assert Look.from_dict(look)
    assert client.get("/api/look").get_json() == DEFAULT_LOOK.to_dict()


def test_concurrent_look_saves_never_corrupt_the_file(make_app, tmp_path):
    app = make_app()
    looks = [Look.random(__import__("random").Random(i)) for i in range(8)]
    errors = []

    def save(look):
        client = app.test_client()
        for _ in range(3):
            response = client.put("/api/look", json=look.to_dict())
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=save, args=(look,)) for look in looks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    saved = json.loads((tmp_path / "data" / "look.json").read_text())
    assert Look.from_dict(saved) in looks
    assert not list((tmp_path / "data").glob("*.tmp")) and not list((tmp_path / "data").glob(".*.tmp"))


def test_the_plain_form_saves_the_look_without_javascript(client):
    token = csrf_of(client)
    form = {**DEFAULT_LOOK.to_dict(), "hair_color": "RED", "csrf_token": token}
    response = client.post("/look", data=form)
    assert response.status_code == 303 and response.headers["Location"].endswith("/look?saved=1")
    assert client.get("/api/look").get_json()["hair_color"] == "RED"
    response = client.post("/look", data={"preset": "female", "csrf_token": token})
    assert response.status_code == 303
    styled = apply_preset(DEFAULT_LOOK.replace(hair_color="RED"), "female")
    assert client.get("/api/look").get_json() == styled.to_dict()  # the preset kept the red hair
    assert "Saved." in client.get("/look?saved=1").get_data(as_text=True)


def test_enter_in_the_plain_form_saves_it_rather_than_applying_a_preset(client):
    """Enter in a form presses its first submit button; the preset buttons come first on the page."""
    page = client.get("/look").get_data(as_text=True)
    first_submit = re.search(r'<button type="submit"[^>]*>', page).group(0)
    assert "preset" not in first_submit and 'tabindex="-1"' in first_submit


def test_a_gender_preset_keeps_the_guests_skin_hair_colour_and_glasses(client):
    chosen = {"skin_color": "DARK_BROWN", "hair_color": "RED", "accessory": "ROUND"}
    client.put("/api/look", json=chosen)
    look = client.put("/api/look", json={"preset": "female"}).get_json()
    assert look == {**look, **chosen, **preset_fields("female")}
    token = csrf_of(client)
    client.post("/look", data={**look, "csrf_token": token, "preset": "male"})
    assert client.get("/api/look").get_json() == {**look, **chosen, **preset_fields("male")}


def test_colour_swatches_are_coloured_without_javascript(client):
    """The security policy allows no inline styles, so the colours come from a stylesheet."""
    page = client.get("/look").get_data(as_text=True)
    sheet = re.search(r'<link rel="stylesheet" href="(/look/swatches\.css)">', page).group(1)
    response = client.get(sheet)
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    for swatch in set(re.findall(r'data-swatch="(#[0-9A-Fa-f]{6})"', page)):
        assert f'.dot[data-swatch="{swatch}"] {{ background-color: {swatch}; }}' in css
    app_css = client.get("/static/app.css").get_data(as_text=True)
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important", app_css)  # Random stays hidden


def test_the_plain_form_rejects_a_bad_value_with_a_page_naming_it(client):
    token = csrf_of(client)
    response = client.post("/look", data={"hair_color": "PLAID", "csrf_token": token},
                           headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "hair_color" in response.get_data(as_text=True)


# ---------------------------------------------------------------- preview


def test_preview_is_a_png_that_follows_the_look_and_expression(client):
    base = {"size": "128", **DEFAULT_LOOK.to_dict()}
    happy = client.get("/api/preview.png", query_string={**base, "expression": "happy"})
    assert happy.status_code == 200 and happy.mimetype == "image/png"
    assert happy.data.startswith(PNG_SIGNATURE)
    assert "max-age" in happy.headers["Cache-Control"]
    sad = client.get("/api/preview.png", query_string={**base, "expression": "sad"})
    black = client.get("/api/preview.png", query_string={**base, "expression": "happy", "hair_color": "BLACK"})
    assert len({happy.data, sad.data, black.data}) == 3
    size = struct.unpack(">II", happy.data[16:24])
    assert size == (128, 128)


def test_preview_without_look_fields_draws_the_saved_look(client):
    client.put("/api/look", json={"hair_color": "PLATINUM"})
    saved = client.get("/api/preview.png?expression=neutral&size=128")
    explicit = client.get("/api/preview.png", query_string={
        **DEFAULT_LOOK.replace(hair_color="PLATINUM").to_dict(), "expression": "neutral", "size": "128"})
    assert saved.data == explicit.data
    assert "no-cache" in saved.headers["Cache-Control"]


@pytest.mark.parametrize("query, field", [
    ("expression=smug", "expression"),
    ("expression=happy&size=5000", "size"),
    ("expression=happy&size=big", "size"),
    ("expression=happy&hat=TOP", "hat"),
    ("expression=happy&hair_color=PLAID", "hair_color"),
])
def test_preview_rejects_bad_input_naming_the_field(client, query, field):
    response = client.get(f"/api/preview.png?{query}")
    assert response.status_code == 400
    assert response.get_json()["field"] == field


# ---------------------------------------------------------------- live status and capture


def test_status_without_a_booth_says_the_kiosk_is_not_here(client):
    status = client.get("/api/status").get_json()
    assert status["running"] is False
    assert "memoji-booth run" in status["message"]
    assert "not running" in client.get("/live").get_data(as_text=True)


def test_status_tells_a_guest_no_device_or_file_of_the_booth_and_the_operator_everything(make_app,
                                                                                         tmp_path):
    """With a PIN set, a guest's live page learns the expression and that something is wrong,
    not the camera's device, the model's path or the counters; the operator gets them all."""
    booth = FakeBooth(tmp_path, status={
        "state": "error", "expression": None, "scores": {}, "fps": 0.0, "camera": "/dev/video0",
        "camera_state": "lost", "camera_problem": "Tried /dev/video0 (busy)", "frames": 12,
        "frames_dropped": 3, "bad_frames": 1, "saving": False,
        "model_error": "Model file not found: /home/pi/memoji/models/emotion.tflite"})
    client = make_app(booth=booth, pin=PIN).test_client()
    guest = client.get("/api/status").get_json()
    assert "/dev/video0" not in json.dumps(guest) and "/home/pi" not in json.dumps(guest)
    assert not {"camera", "frames", "frames_dropped", "bad_frames"} & set(guest)
    assert guest["state"] == "error" and guest["camera_state"] == "lost"
    assert "tell the operator" in guest["model_error"] and "tell the operator" in guest["camera_problem"]

    client.post("/login", data={"pin": PIN, "csrf_token": csrf_of(client, "/login")})
    operator = client.get("/api/status").get_json()
    assert operator["camera"] == "/dev/video0" and operator["frames_dropped"] == 3
    assert operator["model_error"] == "Model file not found: /home/pi/memoji/models/emotion.tflite"


def test_status_with_a_booth_is_plain_json(make_app, tmp_path):
    client = make_app(booth=FakeBooth(tmp_path)).test_client()
    status = client.get("/api/status").get_json()
    assert status["running"] is True
    assert status["expression"] == "happy"
    assert status["face"] == [10, 20, 30, 40]
    assert status["scores"]["happy"] == pytest.approx(0.9)
    assert set(status) >= {"expression", "scores", "face", "fps", "camera", "state"}


def weak_hot_booth(tmp_path) -> FakeBooth:
    """A booth on a weak supply, too hot, as its HealthMonitor reports it."""
    from device.health import HealthMonitor
    from tests.test_health import FakeSensors

    monitor = HealthMonitor(FakeSensors(under_voltage=True, temperature_c=83.0, card_free_mb=9000.0))
    monitor.check(0.0)
    booth = FakeBooth(tmp_path)
    booth._status["health"] = monitor.status()
    return booth


def test_the_pis_health_is_the_operators_and_a_guest_is_told_nothing_of_it(make_app, tmp_path):
    client = make_app(booth=weak_hot_booth(tmp_path), pin=PIN).test_client()
    guest = client.get("/api/status").get_json()
    assert "health" not in guest and "oltage" not in json.dumps(guest)
    client.post("/login", data={"pin": PIN, "csrf_token": csrf_of(client, "/login")})
    health = client.get("/api/status").get_json()["health"]
    assert {key: health[key] for key in health if key != "warnings"} == {
        "under_voltage": True, "under_voltage_since_start": True, "throttled": True,
        "temperature_c": 83.0, "card_free_mb": 9000}
    assert [line[:14] for line in health["warnings"]] == ["Under-voltage:", "The processor "]


def notice_of(page: str) -> str | None:
    """The text of the page's health notice, or None when it is hidden."""
    match = re.search(r'<div class="notice error" id="health-notice" role="status" ?(hidden)?>(.*?)</div>',
                      page, flags=re.DOTALL)
    assert match, "every page has the (maybe hidden) notice"
    return None if match.group(1) else match.group(2)


@pytest.mark.parametrize("path", ["/look", "/gallery", "/live", "/photo"])
def test_every_page_shows_the_operator_what_is_wrong_with_the_pi_and_a_guest_nothing(
        make_app, tmp_path, path):
    client = make_app(booth=weak_hot_booth(tmp_path), pin=PIN).test_client()
    assert notice_of(client.get(path).get_data(as_text=True)) is None  # a guest
    client.post("/login", data={"pin": PIN, "csrf_token": csrf_of(client, "/login")})
    notice = notice_of(client.get(path).get_data(as_text=True))
    assert "Under-voltage:" in notice and "5.1 V 5 A for a Pi 5" in notice and "83 °C" in notice


def test_a_healthy_pi_or_no_booth_shows_no_notice(make_app, tmp_path, client):
    assert notice_of(client.get("/look").get_data(as_text=True)) is None  # memoji-booth web
    healthy = make_app(booth=FakeBooth(tmp_path)).test_client()  # a status without health
    assert notice_of(healthy.get("/look").get_data(as_text=True)) is None


def test_capture_without_a_booth_is_503_with_a_clear_message(client):
    response = client.post("/api/capture")
    assert response.status_code == 503
    assert "memoji-booth run" in response.get_json()["error"]


@pytest.mark.parametrize("result, status", [(True, 202), (None, 202), (False, 409)])
def test_capture_with_a_booth_starts_its_countdown(make_app, tmp_path, result, status):
    booth = FakeBooth(tmp_path, capture_result=result)
    client = make_app(booth=booth).test_client()
    response = client.post("/api/capture", headers=browser_headers(client))
    assert response.status_code == status
    assert booth.captures == 1


def test_capture_without_a_model_is_503_naming_the_missing_file(make_app, tmp_path):
    """Not 409: the request is fine, the booth cannot serve it until the operator adds the model."""
    missing = "Expression model not found: /opt/booth/emotion.tflite. Point `model.path` at a .tflite file."
    booth = FakeBooth(tmp_path, capture_result=False, status={"model_error": missing})
    client = make_app(booth=booth).test_client()
    response = client.post("/api/capture", headers=browser_headers(client))
    assert response.status_code == 503
    assert response.get_json() == {"error": f"Capture is unavailable on this booth: {missing}", "status": 503}


# ---------------------------------------------------------------- gallery


def test_gallery_api_pages_newest_first(app, client):
    names = saved_gallery(app, 5)
    first = client.get("/api/gallery?page=1&per_page=2").get_json()
    assert (first["total"], first["pages"], first["per_page"]) == (5, 3, 2)
    assert [e["name"] for e in first["entries"]] == names[:2]
    last = client.get("/api/gallery?page=3&per_page=2").get_json()
    assert [e["name"] for e in last["entries"]] == names[4:]
    beyond = client.get("/api/gallery?page=9&per_page=2").get_json()
    assert beyond["entries"] == []
    entry = first["entries"][0]
    assert entry["page"] == f"/gallery/{names[0]}"
    assert entry["download"] == f"/gallery/{names[0]}/download"
    assert entry["image"] == f"/media/{names[0]}"
    assert entry["thumb"] == f"/gallery/{names[0]}/thumb.png"
    assert entry["look"] == DEFAULT_LOOK.to_dict()


@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("page=-1", "page"), ("page=two", "page"),
    ("per_page=0", "per_page"), ("per_page=1000", "per_page"), ("per_page=x", "per_page"),
    ("page=%C2%B2", "page"), ("per_page=%C2%B2", "per_page"),  # "²": isdigit() yet not int()
])
def test_gallery_api_rejects_bad_paging(client, query, field):
    response = client.get(f"/api/gallery?{query}")
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_gallery_page_is_paged_and_links_every_memoji(make_app):
    app = make_app(test_config={"GALLERY_PER_PAGE": 2})
    client = app.test_client()
    names = saved_gallery(app, 3)
    first = client.get("/gallery").get_data(as_text=True)
    assert names[0] in first and names[1] in first and names[2] not in first
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = client.get("/gallery?page=2").get_data(as_text=True)
    assert names[2] in second and 'rel="prev"' in second
    assert client.get("/gallery?page=zero").status_code == 400
    beyond = client.get("/gallery?page=99")  # said "Page 99 of 2" over an empty grid
    assert beyond.status_code == 302 and beyond.headers["Location"].endswith("/gallery?page=2")


def test_the_grid_shows_thumbnails_and_links_to_the_full_memoji(app, client):
    names = saved_gallery(app, 3)
    page = client.get("/gallery").get_data(as_text=True)
    tiles = re.findall(r'<a href="([^"]+)">\s*<img ([^>]+)>', page)
    assert [href for href, _ in tiles] == [f"/gallery/{name}" for name in names]
    for (_, image), name in zip(tiles, names, strict=True):
        assert f'src="/gallery/{name}/thumb.png"' in image and 'loading="lazy"' in image
        assert f'width="{THUMB_PX}" height="{THUMB_PX}"' in image  # room kept: nothing jumps
    assert "/media/" not in page
    entry = client.get(f"/gallery/{names[0]}").get_data(as_text=True)
    assert f'src="/media/{names[0]}"' in entry and f'href="/gallery/{names[0]}/download"' in entry


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", data[16:24])  # the IHDR chunk


def test_a_thumbnail_is_small_kept_and_cached_as_the_memoji_is(app, client):
    name = saved_gallery(app, 1)[0]
    thumb = client.get(f"/gallery/{name}/thumb.png")
    assert thumb.status_code == 200 and thumb.mimetype == "image/png"
    assert png_size(thumb.data) == (THUMB_PX, THUMB_PX)
    kept = app.extensions["kiosk"].gallery.folder / ".thumbs" / name
    assert kept.read_bytes() == thumb.data
    made = kept.stat().st_mtime_ns
    again = client.get(f"/gallery/{name}/thumb.png")
    assert again.data == thumb.data and kept.stat().st_mtime_ns == made  # read, not drawn again
    image = client.get(f"/media/{name}")
    assert thumb.headers["Cache-Control"] == image.headers["Cache-Control"] == "public, max-age=86400"
    assert thumb.headers["ETag"] and thumb.headers["Last-Modified"]
    unchanged = client.get(f"/gallery/{name}/thumb.png", headers={"If-None-Match": thumb.headers["ETag"]})
    assert unchanged.status_code == 304


@pytest.mark.parametrize("trouble", ["damaged", "full"])
def test_without_a_thumbnail_the_grid_gets_the_memoji_itself(app, client, monkeypatch, caplog,
                                                            trouble):
    """A memoji whose image is damaged, or a card too full for its thumbnail: the grid
    shows what there is, and asks again next time."""
    from device import storage

    name = saved_gallery(app, 1)[0]
    path = app.extensions["kiosk"].gallery.path_of(name)
    if trouble == "damaged":
        path.write_bytes(path.read_bytes()[:1500])  # its metadata whole, its image cut short
    else:
        def full(*args):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(storage.os, "write", full)
    with caplog.at_level(logging.WARNING):
        response = client.get(f"/gallery/{name}/thumb.png")
    assert response.status_code == 200 and response.data == path.read_bytes()
    assert "no-cache" in response.headers["Cache-Control"]  # not kept as the thumbnail
    assert (f"no thumbnail for {name}" if trouble == "damaged"
            else "the gallery's thumbnails cannot be written") in caplog.text


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_thumbnails_a_card_cannot_take_are_one_line_in_the_journal_not_one_per_image(
        app, client, monkeypatch, caplog, error):
    """Every image of every gallery page a phone opened was a WARNING: on a full card, in the
    guests' words ("Storage full: ... so nothing was saved"), on a read-only one with the
    temporary file's name. The memojis were saved: it is the card the operator must see to."""
    from device import storage

    names = saved_gallery(app, 3)

    def cannot_write(*args):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(storage.os, "write", cannot_write)
    with caplog.at_level(logging.INFO):
        for _ in range(2):  # the grid, opened twice
            for name in names:
                assert client.get(f"/gallery/{name}/thumb.png").status_code == 200
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    folder = app.extensions["kiosk"].gallery.folder
    assert line.exc_info is None and "thumbnail" in line.getMessage()
    assert f"{folder} ({os.strerror(error)})" in line.getMessage(), line.getMessage()
    assert "nothing was saved" not in line.getMessage() and ".tmp" not in line.getMessage()


def test_gallery_entry_page_media_and_download(app, client):
    name = saved_gallery(app, 1)[0]
    page = client.get(f"/gallery/{name}")
    assert page.status_code == 200
    assert f'href="/gallery/{name}/download"' in page.get_data(as_text=True)
    image = client.get(f"/media/{name}")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data == (app.extensions["kiosk"].gallery.path_of(name)).read_bytes()
    assert "attachment" not in image.headers.get("Content-Disposition", "")
    download = client.get(f"/gallery/{name}/download")
    assert download.status_code == 200 and download.data == image.data
    assert download.headers["Content-Disposition"] == f"attachment; filename={name}"


def test_the_operator_downloads_every_memoji_as_one_zip(make_app, tmp_path):
    """The end-of-event export: every saved PNG, as saved; never the kept camera photos;
    the operator's only, as it moves the whole gallery off the booth."""
    import io
    import zipfile

    app = make_app(pin=PIN)
    names = saved_gallery(app, 3)
    gallery = app.extensions["kiosk"].gallery
    photo = gallery.save(render_png(DEFAULT_LOOK, "sad", 128), expression="sad", score=0.5,
                         look=DEFAULT_LOOK.to_dict(), photo=np.zeros((48, 64, 3), np.uint8))
    names.insert(0, photo.name)
    guest = app.test_client()
    refused = guest.get("/gallery/all.zip")  # a lapsed login: log in, back to the gallery
    assert refused.status_code == 302
    assert unquote(refused.headers["Location"]) == "/login?next=/gallery"
    script = app.test_client(use_cookies=False)
    assert script.get("/gallery/all.zip", headers={"X-Booth-Pin": "0000"}).status_code == 401
    assert script.get("/gallery/all.zip", headers={"X-Booth-Pin": PIN}).status_code == 200
    assert "Download all" not in guest.get("/gallery").get_data(as_text=True)
    operator = app.test_client()
    token = csrf_of(operator, "/login")
    operator.post("/login", data={"pin": PIN, "csrf_token": token})
    page = operator.get("/gallery").get_data(as_text=True)
    for name in names:  # the grid has drawn every thumbnail
        assert operator.get(f"/gallery/{name}/thumb.png").status_code == 200
    link = re.search(r'<a [^>]*href="/gallery/all.zip"[^>]*>Download all 4 \(ZIP\)</a>', page)
    assert link and " download" not in link.group(0)  # a download attribute saved the login page
    response = operator.get("/gallery/all.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert re.fullmatch(r'attachment; filename="memojis-\d{8}-\d{4}\.zip"',
                        response.headers["Content-Disposition"])
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    assert archive.namelist() == names  # newest first, no photo
    for name in names:
        assert archive.read(name) == gallery.path_of(name).read_bytes()


def test_the_zip_leaves_out_a_memoji_deleted_while_it_is_sent(make_app):
    import io
    import zipfile

    app = make_app()
    first, second, third = saved_gallery(app, 3)
    response = app.test_client().get("/gallery/all.zip", buffered=False)
    chunks = response.response  # the streamed body, not yet read
    pieces = [next(chunks)]  # the first memoji is on its way
    app.extensions["kiosk"].gallery.delete(second)
    pieces.extend(chunks)
    assert zipfile.ZipFile(io.BytesIO(b"".join(pieces))).namelist() == [first, third]
    response.close()


def test_the_zip_takes_memojis_saved_while_the_clock_was_wrong(make_app):
    """A Pi that boots without its saved time starts in 1970, and a clock set by hand may be
    far ahead: ZIP dates run from 1980 to 2107 only, and one such memoji ended the
    operator's end-of-event download half way (ValueError). Its date is kept as near as
    ZIP allows; the file itself is whole."""
    import io
    import zipfile

    app = make_app()
    names = saved_gallery(app, 3)
    gallery = app.extensions["kiosk"].gallery
    when = {names[0]: 0, names[1]: 7_258_118_400, names[2]: 1_780_000_000}  # 1970, 2200, 2026
    for name, seconds in when.items():
        os.utime(gallery.path_of(name), (seconds, seconds))
    response = app.test_client().get("/gallery/all.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None and archive.namelist() == names
    dates = [archive.getinfo(name).date_time for name in names]
    assert dates[0] == (1980, 1, 1, 0, 0, 0) and dates[1] == (2107, 12, 31, 23, 59, 58)
    assert dates[2] == time.localtime(when[names[2]])[:6]
    for name in names:
        assert archive.read(name) == gallery.path_of(name).read_bytes()


def test_a_memoji_pruned_between_its_open_and_its_entry_is_still_whole(tmp_path, monkeypatch):
    """Once its file is open, a memoji goes into the ZIP as it was, even if retention
    removes the name meanwhile (a second look at the path ended the download)."""
    import io
    import zipfile

    from device.webui.archive import zip_chunks

    paths = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(name.encode() * 1000)
        paths.append((name, tmp_path / name))
    real_open = open

    def open_then_prune(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        if str(path).endswith("a.png"):
            os.unlink(path)
        return handle

    import builtins

    monkeypatch.setattr(builtins, "open", open_then_prune)
    data = b"".join(zip_chunks(paths))
    monkeypatch.undo()
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["a.png", "b.png"] and archive.read("a.png") == b"a.png" * 1000


def yielding_clock() -> float:
    """time.monotonic that lets other threads run first: a check and a count that are not
    under one lock then interleave every time, not once in a blue moon (the GIL rarely
    switches threads inside so short a step, so without this the race tests passed
    with the locks removed)."""
    time.sleep(0.001)
    return time.monotonic()


def test_a_lockout_is_decided_under_one_lock_for_tries_sent_side_by_side():
    """Checked and counted apart, wrong PINs sent at once on many connections could all
    pass the check before the fifth locked the client."""
    from device.webui.security import PinLockout

    lockout = PinLockout(5, 300.0, 300.0, clock=yielding_clock)
    start = threading.Barrier(40)
    answers = []

    def guess():
        start.wait()
        answers.append(lockout.attempt("192.168.1.9", right=False))

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(0.0) == 5 and lockout.attempt("192.168.1.9", right=True) > 0


def test_an_empty_gallery_has_no_zip(client):
    response = client.get("/gallery/all.zip")
    assert response.status_code == 404 and "No memojis saved yet" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", [
    "..", "...", "secret_key", "look.json", "%2e%2e%2fsecret_key", "..%2F..%2Fetc%2Fpasswd",
    "memoji-20261124-080001-000000-happy.png",  # well formed, but not saved
    "memoji-20261124-080001-000000-happy-photo.jpg",
    ".memoji-20261124-080001-000000-happy.png",
])
@pytest.mark.parametrize("route", ["/gallery/{}", "/media/{}", "/gallery/{}/download",
                                   "/gallery/{}/thumb.png"])
def test_gallery_names_outside_the_gallery_are_404(app, client, name, route):
    saved_gallery(app, 1)
    response = client.get(route.format(name))
    assert response.status_code == 404
    assert b"root:" not in response.data and b"secret" not in response.data.lower().replace(b"secret_key", b"")


def test_camera_photos_are_never_served(make_app, tmp_path):
    app = make_app()
    gallery = app.extensions["kiosk"].gallery
    entry = gallery.save(render_png(DEFAULT_LOOK, "happy", 128), expression="happy", score=0.5,
                         look=DEFAULT_LOOK.to_dict(), photo=np.zeros((48, 64, 3), np.uint8))
    assert entry.photo_name and gallery.path_of(entry.photo_name).is_file()
    client = app.test_client()
    assert client.get(f"/media/{entry.photo_name}").status_code == 404
    assert client.get(f"/gallery/{entry.photo_name}/download").status_code == 404
    assert client.get(f"/gallery/{entry.photo_name}/thumb.png").status_code == 404


def test_delete_through_the_api_and_the_form(app, client):
    first, second = saved_gallery(app, 2)
    thumbs = app.extensions["kiosk"].gallery.folder / ".thumbs"
    for name in (first, second):
        assert client.get(f"/gallery/{name}/thumb.png").status_code == 200
    headers = browser_headers(client)
    assert client.delete(f"/api/gallery/{first}", headers=headers).status_code == 204
    assert client.get(f"/media/{first}").status_code == 404
    assert client.get(f"/gallery/{first}/thumb.png").status_code == 404
    assert [p.name for p in thumbs.iterdir()] == [second]
    assert client.delete(f"/api/gallery/{first}", headers=headers).status_code == 404
    assert client.delete("/api/gallery/..", headers=headers).status_code == 404
    response = client.post(f"/gallery/{second}/delete", data={"csrf_token": headers["X-CSRF-Token"]},
                           follow_redirects=True)
    assert response.history[0].status_code == 303
    assert '<p class="notice ok" role="status">Memoji deleted.</p>' in response.get_data(as_text=True)
    assert client.get("/api/gallery").get_json()["total"] == 0
    assert "Memoji deleted" not in client.get("/gallery").get_data(as_text=True)
    assert list(thumbs.iterdir()) == []


def erase_gallery(app, count=3):
    """`count` memojis, the oldest with its camera photo, every thumbnail drawn; names newest first."""
    names = saved_gallery(app, count - 1)
    gallery = app.extensions["kiosk"].gallery
    newest = gallery.save(render_png(DEFAULT_LOOK, "sad", 128), expression="sad", score=0.5,
                          look=DEFAULT_LOOK.to_dict(), photo=np.zeros((48, 64, 3), np.uint8))
    names.insert(0, newest.name)
    for name in names:
        gallery.thumb_of(name)
    return names


def gallery_files(app) -> list[str]:
    folder = app.extensions["kiosk"].gallery.folder
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_delete_all_asks_for_the_number_of_memojis_then_deletes_them_photos_and_thumbnails(make_app):
    """The end of an event: the operator erases the gallery in two steps (a page, then the
    number typed), and nothing of the guests' is left; the look and the login key stay."""
    app = make_app(pin=PIN)
    app.extensions["kiosk"].save_look(apply_preset(DEFAULT_LOOK, "female"))
    erase_gallery(app)
    operator = app.test_client()
    log_in(operator)
    gallery_page = operator.get("/gallery").get_data(as_text=True)
    assert '<a class="button danger wide" href="/gallery/delete-all">Delete all…</a>' in gallery_page
    page = operator.get("/gallery/delete-all")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Delete all 3 memojis?" in text
    assert "the 1 camera photo kept with them" in text
    form = {"csrf_token": csrf_of(operator, "/gallery/delete-all"),
            "through": re.search(r'name="through" value="([^"]+)"', text).group(1),
            "count": "3", "photos": "1"}
    for typed in ("", "2", "yes"):  # a stray tap, a wrong number: nothing goes
        refused = operator.post("/gallery/delete-all", data={**form, "confirm": typed})
        assert refused.status_code == 400 and "nothing was deleted" in refused.get_data(as_text=True)
    assert len(gallery_files(app)) == 7  # 3 memojis, 3 thumbnails, 1 photo
    done = operator.post("/gallery/delete-all", data={**form, "confirm": " 3 "}, follow_redirects=True)
    assert done.history[0].status_code == 303
    assert '<p class="notice ok" role="status">Deleted 3 memojis.</p>' in done.get_data(as_text=True)
    assert gallery_files(app) == []
    data_dir = app.config["DATA_DIR"]
    assert sorted(p.name for p in data_dir.iterdir()) == ["gallery", "look.json", "secret_key"]
    assert app.extensions["kiosk"].load_look() == apply_preset(DEFAULT_LOOK, "female")
    assert operator.get("/gallery/delete-all").status_code == 302  # nothing left to delete


def test_delete_all_keeps_a_memoji_saved_after_its_page_was_shown(make_app):
    """A guest's capture between the operator's two steps is not theirs to lose."""
    app = make_app(pin=PIN)
    shown = erase_gallery(app, 2)
    operator = app.test_client()
    token = log_in(operator)
    assert operator.get("/gallery/delete-all").status_code == 200
    later = app.extensions["kiosk"].gallery.save(render_png(DEFAULT_LOOK, "happy", 128),
                                                 expression="happy", score=0.5, look=DEFAULT_LOOK.to_dict())
    operator.post("/gallery/delete-all", data={"csrf_token": token, "through": shown[0], "count": "2",
                                               "photos": "1", "confirm": "2"})
    assert [e["name"] for e in operator.get("/api/gallery").get_json()["entries"]] == [later.name]


def test_delete_all_through_the_api_names_the_newest_memoji(make_app):
    app = make_app(pin=PIN)
    names = erase_gallery(app)
    script = app.test_client(use_cookies=False)
    pin = {"X-Booth-Pin": PIN}
    missing = script.delete("/api/gallery", headers=pin)
    assert missing.status_code == 400 and missing.get_json()["field"] == "through"
    assert script.delete("/api/gallery?through=look.json", headers=pin).status_code == 400
    assert len(gallery_files(app)) == 7
    response = script.delete(f"/api/gallery?through={names[1]}", headers=pin)
    assert response.status_code == 200
    assert response.get_json() == {"deleted": 2, "photos": 0, "kept": 1}
    assert [e["name"] for e in script.get("/api/gallery").get_json()["entries"]] == [names[0]]
    assert script.delete(f"/api/gallery?through={names[0]}", headers=pin).get_json() == {
        "deleted": 1, "photos": 1, "kept": 0}
    assert gallery_files(app) == []


DAMAGED = "memoji-20200101-000000-000000-happy.png"  # older than any erase_gallery saves


def delete_all_form(operator) -> dict:
    """The confirmation page's form, as the operator's phone gets it."""
    page = operator.get("/gallery/delete-all")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    return {**fields, "_text": text}


def test_delete_all_counts_a_damaged_memoji_the_gallery_cannot_show(make_app):
    """The page counted the memojis it could show, erase removed a damaged one too: the
    operator typed 3 and read "Deleted 4 memojis"."""
    app = make_app(pin=PIN)
    erase_gallery(app)
    folder = app.extensions["kiosk"].gallery.folder
    (folder / DAMAGED).write_bytes(b"not a png")  # a power cut on a card that does not journal
    operator = app.test_client()
    log_in(operator)
    assert "3 saved" in operator.get("/gallery").get_data(as_text=True)
    form = delete_all_form(operator)
    text = form.pop("_text")
    assert "Delete all 4 memojis?" in text and "(1 of the 4 is damaged: the gallery cannot show it)" in text
    assert form["count"] == "4" and form["damaged"] == "1"
    wrong = operator.post("/gallery/delete-all", data={**form, "confirm": "3"})
    assert wrong.status_code == 400 and "1 of the 4 is damaged" in wrong.get_data(as_text=True)
    done = operator.post("/gallery/delete-all", data={**form, "confirm": "4"}, follow_redirects=True)
    assert '<p class="notice ok" role="status">Deleted 4 memojis.</p>' in done.get_data(as_text=True)
    assert gallery_files(app) == []


def test_delete_all_is_offered_when_every_memoji_left_is_damaged(make_app):
    app = make_app(pin=PIN)
    folder = app.extensions["kiosk"].gallery.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DAMAGED).write_bytes(b"not a png")
    operator = app.test_client()
    log_in(operator)
    page = operator.get("/gallery").get_data(as_text=True)
    assert "No memojis yet" in page and 'href="/gallery/delete-all">Delete all…' in page
    assert "Download all" not in page
    form = delete_all_form(operator)
    assert "Delete all 1 memoji?" in form.pop("_text")
    operator.post("/gallery/delete-all", data={**form, "confirm": "1"})
    assert gallery_files(app) == []


def test_delete_all_through_the_api_removes_a_damaged_memoji_newer_than_the_first_listed(make_app):
    """A script names the first memoji GET /api/gallery lists; a damaged one, never listed,
    was kept when it was newer."""
    app = make_app(pin=PIN)
    erase_gallery(app)
    folder = app.extensions["kiosk"].gallery.folder
    (folder / "memoji-20990101-000000-000000-sad.png").write_bytes(b"not a png")
    script = app.test_client(use_cookies=False)
    pin = {"X-Booth-Pin": PIN}
    newest = script.get("/api/gallery").get_json()["entries"][0]["name"]
    response = script.delete(f"/api/gallery?through={newest}", headers=pin)
    assert response.get_json() == {"deleted": 4, "photos": 1, "kept": 0}
    assert gallery_files(app) == []


def test_delete_all_is_for_the_operator_only_and_never_cross_site(make_app):
    app = make_app(pin=PIN)
    names = erase_gallery(app)
    form = {"through": names[0], "count": "3", "photos": "1", "confirm": "3"}
    guest = app.test_client()
    assert "delete-all" not in guest.get("/gallery").get_data(as_text=True)
    assert guest.get("/gallery/delete-all").status_code == 302  # to the login
    forged = guest.post("/gallery/delete-all", data={**form, "csrf_token": csrf_of(guest, "/gallery")})
    assert forged.status_code == 302 and "/login" in forged.headers["Location"]
    assert guest.delete(f"/api/gallery?through={names[0]}", headers=browser_headers(guest)).status_code == 401
    script = app.test_client(use_cookies=False)
    assert script.delete(f"/api/gallery?through={names[0]}").status_code == 401
    assert script.delete(f"/api/gallery?through={names[0]}",
                         headers={"X-Booth-Pin": "0000"}).status_code == 401
    operator = app.test_client()
    log_in(operator)
    other_site = {"Origin": "http://evil.example"}  # a page elsewhere posting the operator's form
    assert operator.post("/gallery/delete-all", data=form, headers=other_site).status_code == 403
    assert operator.delete(f"/api/gallery?through={names[0]}", headers=other_site).status_code == 403
    assert len(gallery_files(app)) == 7


def test_delete_all_needs_a_pin_to_be_set(make_app):
    """Without a PIN every phone is the operator: one guest could end everyone's event."""
    app = make_app()
    names = erase_gallery(app)
    client = app.test_client()
    page = client.get("/gallery").get_data(as_text=True)
    assert "Download all 3 (ZIP)" in page and "delete-all" not in page
    refused = client.get("/gallery/delete-all")
    assert refused.status_code == 403 and "memoji-booth erase" in refused.get_data(as_text=True)
    token = csrf_of(client, "/gallery")
    assert client.post("/gallery/delete-all", data={"csrf_token": token, "through": names[0],
                                                    "count": "3", "photos": "1",
                                                    "confirm": "3"}).status_code == 403
    api = client.delete(f"/api/gallery?through={names[0]}", headers=browser_headers(client))
    assert api.status_code == 403 and "web.pin" in api.get_json()["error"]
    assert len(gallery_files(app)) == 7


def test_delete_all_on_a_card_that_refuses_says_so_and_the_gallery_still_works(make_app, monkeypatch,
                                                                                caplog):
    app = make_app(pin=PIN)
    names = erase_gallery(app)
    card_refuses_to_remove(monkeypatch, lambda path: path.name == names[1])
    script = app.test_client(use_cookies=False)
    response = script.delete(f"/api/gallery?through={names[0]}", headers={"X-Booth-Pin": PIN})
    assert response.status_code == 503
    assert "Deleted 2 memojis, but 1 file could not be removed (Read-only file system)" in (
        response.get_json()["error"])
    assert any("Delete all left 1 file (" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)
    listed = script.get("/api/gallery").get_json()["entries"]
    assert [e["name"] for e in listed] == [names[1]]
    assert script.get(listed[0]["thumb"]).status_code == 200


def test_delete_all_that_deleted_one_memoji_says_one(make_app, monkeypatch):
    """It said "Deleted 1 memojis"."""
    app = make_app(pin=PIN)
    entry = app.extensions["kiosk"].gallery.save(
        render_png(DEFAULT_LOOK, "sad", 128), expression="sad", score=0.5,
        look=DEFAULT_LOOK.to_dict(), photo=np.zeros((48, 64, 3), np.uint8))
    card_refuses_to_remove(monkeypatch, lambda path: path.name == entry.photo_name)
    script = app.test_client(use_cookies=False)
    response = script.delete(f"/api/gallery?through={entry.name}", headers={"X-Booth-Pin": PIN})
    assert response.status_code == 503
    assert response.get_json()["error"].startswith(
        "Deleted 1 memoji, but 1 file could not be removed (Read-only file system)")


def test_the_journal_never_names_a_phone_s_address_or_its_photo_s_file(make_app, caplog):
    """What the README's "Privacy" says of the log: guests' phones and photos are not in it,
    whatever they do (a photo, a bad one, a wrong address, PINs guessed until locked out),
    nor what the operator does to their memojis. Not even at DEBUG (`-v`)."""
    app = make_app(pin=PIN)
    phone = "192.0.2.77"
    guest = app.test_client()
    guest.environ_base["REMOTE_ADDR"] = phone
    headers = browser_headers(guest)
    with caplog.at_level(logging.DEBUG):
        made = upload(guest, bright_photo(), filename="IMG_20260601_anna.jpg", headers=headers)
        assert made.status_code == 201
        assert upload(guest, b"not a photo", filename="IMG_20260601_ben.jpg",
                      headers=headers).status_code == 400
        assert guest.get("/media/memoji-20260101-000000-000000-happy.png").status_code == 404
        token = csrf_of(guest, "/login")
        for _ in range(6):
            guest.post("/login", data={"pin": "0000", "csrf_token": token})
        operator = app.test_client()
        operator.environ_base["REMOTE_ADDR"] = "192.0.2.1"
        log_in(operator)
        name = made.get_json()["name"]
        assert operator.get(f"/gallery/{name}/thumb.png").status_code == 200
        saved_gallery(app, 2)
        assert operator.delete(f"/api/gallery/{name}", headers=browser_headers(operator)).status_code == 204
        newest = operator.get("/api/gallery").get_json()["entries"][0]["name"]
        assert operator.delete(f"/api/gallery?through={newest}",
                               headers=browser_headers(operator)).status_code == 200
    lines = "\n".join(record.getMessage() for record in caplog.records)
    assert "wrong operator PINs" in lines and "from a photo sent from a phone" in lines
    for secret in (phone, "192.0.2.1", "anna", "ben"):
        assert secret not in lines


# ---------------------------------------------------------------- photo upload


def test_photo_upload_makes_a_memoji_in_the_current_look(app, client, analyser, tmp_path):
    client.put("/api/look", json={"preset": "female"})
    response = upload(client, bright_photo())
    assert response.status_code == 201, response.get_json()
    memoji = response.get_json()
    assert memoji["expression"] == "surprise"
    assert memoji["scores"]["surprise"] == pytest.approx(0.9)
    assert memoji["look"] == apply_preset(DEFAULT_LOOK, "female").to_dict()
    saved = client.get(memoji["image"])
    assert saved.status_code == 200 and saved.data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", saved.data[16:24])  # the IHDR chunk
    assert (width, height) == (SAVED_PX, SAVED_PX)  # as big as the kiosk's (it was 512)
    gallery = Gallery(tmp_path / "data" / "gallery", keep=10)
    assert [e.name for e in gallery.entries()] == [memoji["name"]]
    assert gallery.entries()[0].photo_name is None  # booth.save_photo is off by default


def test_a_phone_photo_of_a_real_face_goes_through_the_real_models(make_app, clear_fer_faces):
    """The other upload tests find a "face" in any bright picture; this one decodes and
    scales a phone-sized JPEG of a real FER-2013 face for the shipped detector and model
    (the app's own analyser: no ANALYSER_FACTORY)."""
    from tests.fer_frames import make_frame

    happy = next(face for label, face in clear_fer_faces if label == "happy")
    photo = cv2.resize(make_frame(happy, seed=1), (4032, 3024), interpolation=cv2.INTER_CUBIC)
    client = make_app(test_config={"ANALYSER_FACTORY": None}).test_client()
    response = upload(client, jpeg_of(photo))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["expression"] == "happy"


def test_photo_upload_never_uses_the_display_loops_analyser(make_app, tmp_path, analyser):
    booth = FakeBooth(tmp_path)  # its interpreters belong to the loop's thread
    client = make_app(booth=booth).test_client()
    assert upload(client, bright_photo()).status_code == 201
    assert booth.analyser.calls == 0 and analyser.calls == 1
    assert booth.gallery.entries()[0].expression == "surprise"  # saved in the booth's gallery


def test_the_analyser_is_built_once_per_app(make_app):
    built = []

    def factory():
        built.append(1)
        return FakeAnalyser()

    client = make_app(test_config={"ANALYSER_FACTORY": factory}).test_client()
    for _ in range(3):
        assert upload(client, bright_photo()).status_code == 201
    assert len(built) == 1


def test_the_photo_picker_offers_existing_photos_too(client):
    """`capture` would make phones open the camera only, with no way to pick a saved photo."""
    page = client.get("/photo").get_data(as_text=True)
    picker = re.search(r'<input type="file"[^>]*>', page).group(0)
    assert "capture" not in picker and 'accept="image/jpeg,image/png,image/*"' in picker
    assert "up to 10 MB" in page and f'data-max-bytes="{10 * 1024 * 1024}"' in page  # checked before sending


def test_photo_form_without_javascript_shows_the_new_memoji(client):
    response = upload(client, bright_photo(), url="/photo", headers={})
    assert response.status_code == 403  # no CSRF token
    token = csrf_of(client, "/photo")
    from io import BytesIO

    response = client.post("/photo", data={"photo": (BytesIO(bright_photo()), "me.jpg"), "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    assert re.search(r"/gallery/memoji-[\d-]+-surprise\.png$", response.headers["Location"])


def png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return PNG_SIGNATURE + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def bmp_header_claiming(width: int, height: int) -> bytes:
    """A tiny BMP whose header claims a huge image: decoding it would exhaust a Pi's memory."""
    ok, small = cv2.imencode(".bmp", np.zeros((2, 2, 3), np.uint8))
    assert ok
    data = bytearray(small.tobytes())
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def hdr_claiming(width: int, height: int) -> bytes:
    """A Radiance HDR of one grey, run-length coded: a few bytes a row, whatever its width.
    OpenCV decodes it; neither its header nor Pillow tell its size."""
    row = bytes([2, 2, width >> 8, width & 0xFF])
    for value in (100, 100, 100, 128):  # R, G, B, shared exponent
        runs = [min(127, width - start) for start in range(0, width, 127)]
        row += b"".join(bytes([128 + run, value]) for run in runs)
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode() + row * height


@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"this is not an image at all", 400, "not an image"),
    (PNG_SIGNATURE + b"\x00" * 40, 400, "not an image"),
    (png_header_claiming(30000, 30000), 413, "too many pixels"),
    (bmp_header_claiming(30000, 30000), 413, "too many pixels"),
    (bmp_header_claiming(7000, 7000), 413, "too many pixels"),
    (hdr_claiming(7000, 6000), 400, "not an image"),  # 42 MP in 3 MB: 1 GB decoded
    (jpeg_of(np.zeros((120, 160, 3), np.uint8)), 422, "No face found"),
])
def test_photo_upload_bad_input(client, data, status, words):
    response = upload(client, data)
    assert response.status_code == status
    assert words in response.get_json()["error"]


def most_at_once(monkeypatch, module, name: str, call) -> int:
    """Eight threads make `call` at once; how many of them were inside `module.name` together.
    The first stays inside until a second joins it (30 s at most: a limit of one), however
    late a busy machine starts the threads; each then stays 50 ms, time for a third to come."""
    inside, most = [], []
    changed = threading.Condition()
    real = getattr(module, name)
    deadline = time.monotonic() + 30

    def slow(*args):
        with changed:
            inside.append(1)
            most.append(len(inside))
            changed.notify_all()
            changed.wait_for(lambda: max(most) >= 2, timeout=max(0.0, deadline - time.monotonic()))
        threading.Event().wait(0.05)
        with changed:
            inside.pop()
        return real(*args)

    monkeypatch.setattr(module, name, slow)
    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(most) == 8  # every call got there
    return max(most)


def test_only_two_photos_are_decoded_at_once(monkeypatch):
    """A big photo takes some 200 MB while it is decoded; eight workers decoding at once
    could take a Pi's memory, and any guest may send them."""
    from device.webui import photos

    assert most_at_once(monkeypatch, photos.cv2, "imdecode",
                        lambda n: photos.decode_photo(bright_photo())) == 2


def test_only_two_previews_are_drawn_at_once(monkeypatch):
    """Previews are drawn in the kiosk's own process: phones asking for many at once must
    leave its screen the CPU."""
    from device.webui import looks

    looks.preview_png.cache_clear()
    assert most_at_once(monkeypatch, looks, "render_png",
                        lambda n: looks.preview_png(Look.random(random.Random(n)), "happy", 128)) == 2


def test_photo_upload_without_the_field_is_400(client):
    response = client.post("/api/photo", data={"picture": "x"}, headers=browser_headers(client))
    assert response.status_code == 400
    assert "photo" in response.get_json()["error"]


def test_photo_upload_over_the_size_limit_is_413_json(make_app):
    client = make_app(web_max_upload_mb=1).test_client()
    too_big = b"\xff\xd8" + b"\x00" * (1024 * 1024 + 10)
    response = upload(client, too_big)
    assert response.status_code == 413
    assert "1 MB" in response.get_json()["error"]


def test_photo_upload_without_a_model_is_503_with_the_fix(make_app):
    def factory():
        raise AnalyserUnavailable("Expression model not found: device/models/emotion.tflite. Ship one.")

    client = make_app(test_config={"ANALYSER_FACTORY": factory}).test_client()
    response = upload(client, bright_photo())
    assert response.status_code == 503
    assert "Expression model not found" in response.get_json()["error"]
    # A guest (a PIN is set, not logged in) is told in words, not the booth's files.
    guest = make_app(pin=PIN, test_config={"ANALYSER_FACTORY": factory}).test_client()
    response = upload(guest, bright_photo())
    assert response.status_code == 503 and "Tell the operator" in response.get_json()["error"]
    assert "emotion.tflite" not in response.get_json()["error"]


def test_photo_upload_without_a_model_is_one_error_in_the_journal_not_one_per_photo(
        make_app, tmp_path, caplog):
    """Tried again on every upload (the model may be put in place meanwhile), it logged the
    whole message each time."""
    client = make_app(model_path=str(tmp_path / "missing.tflite"),
                      test_config={"ANALYSER_FACTORY": None}).test_client()
    with caplog.at_level(logging.INFO, logger="device.webui"):
        for _ in range(3):
            assert upload(client, bright_photo()).status_code == 503
    [line] = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert line.levelno == logging.ERROR and "missing.tflite" in line.getMessage()


def test_a_memoji_from_a_phone_photo_is_in_the_journal_as_a_capture_is(client, caplog):
    with caplog.at_level(logging.INFO, logger="device.webui"):
        name = upload(client, bright_photo()).get_json()["name"]
    lines = [r.getMessage() for r in caplog.records if r.name == "device.webui.photos"]
    assert lines == [f"saved {name} from a photo sent from a phone (surprise 0.90)"]


def test_image_size_reads_png_and_jpeg_headers():
    rgb = np.zeros((30, 70, 3), np.uint8)
    assert image_size(jpeg_of(rgb)) == (70, 30)
    assert image_size(cv2.imencode(".png", rgb)[1].tobytes()) == (70, 30)
    assert image_size(b"GIF89a...") is None


# ---------------------------------------------------------------- operator PIN


@pytest.fixture
def pin_client(make_app, tmp_path):
    booth = FakeBooth(tmp_path)
    app = make_app(booth=booth, pin=PIN)
    app.booth = booth
    return app.test_client()


@pytest.mark.parametrize("pin, number_pad", [(PIN, True), ("booth-42", False), ("Crew2026", False)])
def test_the_pin_field_offers_the_number_pad_only_for_a_pin_of_digits(make_app, pin, number_pad):
    """Some phones' number pad has no letters at all: a PIN with letters must get a keyboard."""
    html = make_app(pin=pin).test_client().get("/login").get_data(as_text=True)
    field = re.search(r'<input type="password" name="pin"[^>]*>', html).group(0)
    assert ('inputmode="numeric"' in field) is number_pad


@pytest.mark.parametrize("method, path, body", [
    ("put", "/api/look", {"hair_color": "BLACK"}),
    ("post", "/api/capture", None),
    ("delete", "/api/gallery/{name}", None),
])
def test_changes_need_the_pin(pin_client, method, path, body):
    app = pin_client.application
    name = saved_gallery(app, 1)[0]
    path = path.format(name=name)
    call = getattr(pin_client, method)
    refused = call(path, json=body, headers=browser_headers(pin_client))
    assert refused.status_code == 401
    assert "operator PIN" in refused.get_json()["error"]
    script = getattr(app.test_client(use_cookies=False), method)
    wrong = script(path, json=body, headers={"X-Booth-Pin": "0000"})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "Wrong operator PIN in the X-Booth-Pin header."
    allowed = script(path, json=body, headers={"X-Booth-Pin": PIN})
    assert allowed.status_code in (200, 202, 204)


def test_viewing_downloading_previewing_and_uploading_need_no_pin(pin_client):
    name = saved_gallery(pin_client.application, 1)[0]
    for path in ["/look", "/live", "/gallery", "/photo", f"/gallery/{name}", f"/media/{name}",
                 f"/gallery/{name}/download", f"/gallery/{name}/thumb.png", "/api/look",
                 "/api/status", "/api/gallery",
                 "/api/preview.png?expression=sad&size=128"]:
        assert pin_client.get(path).status_code == 200, path
    assert upload(pin_client, bright_photo()).status_code == 201


@pytest.mark.parametrize("who, headers, status", [
    ("a guest", {}, 200),
    ("a script with a wrong PIN", {"X-Booth-Pin": "0000"}, 200),
    ("a page on a rebound name", {"Host": "attacker.example"}, 400),
])
def test_a_thumbnail_is_open_to_whoever_may_see_the_memoji(pin_client, who, headers, status):
    name = saved_gallery(pin_client.application, 1)[0]
    client = pin_client.application.test_client(use_cookies=False)
    full = client.get(f"/media/{name}", headers=headers)
    thumb = client.get(f"/gallery/{name}/thumb.png", headers=headers)
    assert full.status_code == thumb.status_code == status, who


def test_one_phone_cannot_flush_the_gallery_with_photos(make_app, tmp_path):
    """Each saved photo pushes the oldest memoji out of a full gallery: a phone may
    save only so many in a while; other phones and the logged-in operator still may."""
    from device.webui.security import ClientWindow

    app = make_app(pin=PIN)
    app.extensions["photo_window"] = ClientWindow(2, 600.0)
    guest = app.test_client()
    assert [upload(guest, bright_photo()).status_code for _ in range(2)] == [201, 201]
    refused = upload(guest, bright_photo())
    assert refused.status_code == 429
    assert "oldest memoji" in refused.get_json()["error"]
    form = upload(guest, bright_photo(), url="/photo")  # the plain form: the same limit
    assert form.status_code == 429 and "Wait a few minutes" in form.get_data(as_text=True)
    assert len(Gallery(tmp_path / "data" / "gallery", keep=10).entries()) == 2
    other_phone = {"REMOTE_ADDR": "192.168.1.77"}
    other = app.test_client()
    other.environ_base.update(other_phone)
    assert upload(other, bright_photo()).status_code == 201
    operator = app.test_client(use_cookies=False)
    assert upload(operator, bright_photo(), headers={"X-Booth-Pin": PIN}).status_code == 201


@pytest.fixture
def berlin_time(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_on_the_pages_are_the_booths_local_time(app, client, berlin_time):
    name = saved_gallery(app, 1)[0]  # saved at 08:00:01 UTC on 24 Nov 2026
    entry_page = client.get(f"/gallery/{name}").get_data(as_text=True)
    assert "24 Nov 2026 09:00 CET</time>" in entry_page
    assert 'datetime="2026-11-24T08:00:01+00:00"' in entry_page  # machine-readable stays UTC
    assert "24 Nov 09:00 CET</time>" in client.get("/gallery").get_data(as_text=True)


def test_photos_that_save_nothing_do_not_count_against_the_phone(make_app):
    from device.webui.security import ClientWindow

    app = make_app()
    app.extensions["photo_window"] = ClientWindow(2, 600.0)
    guest = app.test_client()
    no_face = jpeg_of(np.zeros((120, 160, 3), np.uint8))
    assert [upload(guest, no_face).status_code for _ in range(3)] == [422, 422, 422]
    assert [upload(guest, bright_photo()).status_code for _ in range(3)] == [201, 201, 429]


def test_requests_side_by_side_cannot_all_take_the_last_photo_slots():
    import threading

    from device.webui.security import ClientWindow

    class YieldingEvents(dict):
        """The window's per-client times, letting other threads run at each read: a check
        and a count not made under one lock then interleave every time."""

        reads = 0

        def get(self, *args):
            YieldingEvents.reads += 1
            value = super().get(*args)
            time.sleep(0.001)  # between the read and whatever the window does with it
            return value

    window = ClientWindow(20, 600.0)
    window._events = YieldingEvents()
    start = threading.Barrier(50)
    taken = []

    def guest():
        start.wait()
        taken.append(window.reserve("192.168.1.5"))

    threads = [threading.Thread(target=guest) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert YieldingEvents.reads >= 50  # the window did read through it
    assert taken.count(True) == 20
    window.release("192.168.1.5")
    assert window.reserve("192.168.1.5") and not window.reserve("192.168.1.5")


def test_login_with_the_pin_lets_the_page_change_things(pin_client):
    page = pin_client.get("/look").get_data(as_text=True)
    assert "operator PIN" in page and "Operator log in" in page
    token = csrf_of(pin_client, "/login")
    wrong = pin_client.post("/login", data={"pin": "1111", "csrf_token": token, "next": "/live"})
    assert wrong.status_code == 401
    wrong_page = wrong.get_data(as_text=True)  # the message is tied to the field it is about
    assert re.search(r'<p class="notice error" id="pin-error" role="alert">Wrong PIN.</p>', wrong_page)
    assert re.search(r'<input type="password" name="pin"[^>]*aria-invalid="true" aria-describedby="pin-error"',
                     wrong_page)
    assert "aria-invalid" not in pin_client.get("/login").get_data(as_text=True)
    right = pin_client.post("/login", data={"pin": PIN, "csrf_token": token, "next": "/live"})
    assert right.status_code == 303 and right.headers["Location"] == "/live"
    headers = browser_headers(pin_client)
    assert pin_client.put("/api/look", json={"hair_color": "RED"}, headers=headers).status_code == 200
    assert pin_client.post("/api/capture", headers=headers).status_code == 202
    assert "log out" in pin_client.get("/look").get_data(as_text=True)
    assert pin_client.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]}).status_code == 303
    assert pin_client.put("/api/look", json={"hair_color": "RED"}, headers=headers).status_code == 401


def test_forms_that_need_the_pin_send_people_to_the_login_page(pin_client):
    token = csrf_of(pin_client)
    response = pin_client.post("/look", data={"hair_color": "RED", "csrf_token": token})
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_too_many_wrong_pins_are_throttled(pin_client):
    token = csrf_of(pin_client, "/login")
    for _ in range(4):
        assert pin_client.post("/login", data={"pin": "0000", "csrf_token": token}).status_code == 401
    fifth = pin_client.post("/login", data={"pin": "0000", "csrf_token": token})
    assert fifth.status_code == 429 and fifth.headers["Retry-After"] == "300"
    assert "Wrong PIN, and that was too many. This phone can try again in 5 minutes." in fifth.get_data(as_text=True)
    for blocked in [pin_client.post("/login", data={"pin": PIN, "csrf_token": token}), pin_client.get("/login")]:
        page = blocked.get_data(as_text=True)  # says so at once, with no form to type into
        assert blocked.status_code == 429
        assert 'role="alert">Too many wrong PINs. This phone can try again in 5 minutes.</p>' in page
        assert 'name="pin"' not in page
    script = pin_client.application.test_client(use_cookies=False)
    api = script.put("/api/look", json={}, headers={"X-Booth-Pin": PIN})
    assert api.status_code == 429 and api.headers["Retry-After"] == "300"
    assert api.get_json()["error"] == "Too many wrong PINs. Try again in 5 minutes."


def test_a_pin_lockout_lasts_five_minutes_from_the_pin_that_started_it(make_app, caplog):
    """The README: five wrong PINs in five minutes lock that phone out for five minutes,
    counted from the fifth, however long ago the first was."""
    from device.webui.security import PinLockout

    now = [1000.0]
    app = make_app(pin=PIN)
    app.extensions["wrong_pins"] = PinLockout(5, 300.0, 300.0, clock=lambda: now[0])
    client = app.test_client()
    token = csrf_of(client, "/login")

    def log_in(pin):
        return client.post("/login", data={"pin": pin, "csrf_token": token}).status_code

    assert [log_in("0000") for _ in range(4)] == [401] * 4
    now[0] += 240
    assert log_in("0000") == 429  # the fifth in five minutes: locked from now
    # The operator locked out of their own page learns why, and how to end it, once.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "5 wrong operator PINs within 5 minutes from one phone: it cannot log in for 5 minutes. "
        "If that was the operator, `sudo systemctl restart memoji-booth` ends this at once"]
    now[0] += 150  # 390 s after the first wrong PIN, 150 s after the fifth
    assert log_in(PIN) == 429
    assert "This phone can try again in 3 minutes." in client.get("/login").get_data(as_text=True)
    now[0] += 149
    assert log_in(PIN) == 429
    now[0] += 2
    assert log_in(PIN) == 303


def test_a_guest_taking_address_after_address_cannot_try_every_pin(make_app, caplog):
    """Five wrong PINs lock one address out, but a phone on the venue's network may take
    another address for each five: twenty from all addresses together lock out everyone
    (a logged-in operator stays logged in)."""
    app = make_app(pin=PIN)
    operator = app.test_client()
    operator.post("/login", data={"pin": PIN, "csrf_token": csrf_of(operator, "/login")})
    script = app.test_client(use_cookies=False)

    def try_pin(pin, address):
        return script.put("/api/look", json={}, headers={"X-Booth-Pin": pin},
                          environ_base={"REMOTE_ADDR": address}).status_code

    answers = [try_pin(f"{guess:04d}", f"10.0.0.{10 + guess // 5}") for guess in range(20)]
    assert answers == [401] * 20
    assert try_pin(PIN, "10.0.0.99") == 429
    locked = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(locked) == 5 and "10.0.0." not in " ".join(locked)  # four phones, then all
    assert locked[-1].startswith("20 wrong operator PINs within 5 minutes from all phones "
                                 "together: no phone can log in for 5 minutes")
    page = app.test_client().get("/login", environ_base={"REMOTE_ADDR": "10.0.0.98"})
    assert page.status_code == 429  # an operator who sent no PIN is not told "this phone"
    assert ("Too many wrong PINs from all phones together. No phone can try again for 5 minutes."
            in page.get_data(as_text=True))
    headers = browser_headers(operator)
    assert operator.put("/api/look", json={"hair_color": "RED"}, headers=headers).status_code == 200


def test_wrong_pins_spread_over_more_than_five_minutes_lock_nobody_out(make_app):
    from device.webui.security import PinLockout

    now = [1000.0]
    app = make_app(pin=PIN)
    app.extensions["wrong_pins"] = PinLockout(5, 300.0, 300.0, clock=lambda: now[0])
    client = app.test_client()
    token = csrf_of(client, "/login")
    for _ in range(8):
        assert client.post("/login", data={"pin": "0000", "csrf_token": token}).status_code == 401
        now[0] += 76  # never five within 300 s


@pytest.mark.parametrize("target, landing", [
    ("/gallery", "/gallery"), ("//evil.example/x", "/look"), ("https://evil.example", "/look"),
    ("/\\evil.example", "/look"),
])
def test_login_redirects_only_within_the_booth(pin_client, target, landing):
    token = csrf_of(pin_client, "/login")
    response = pin_client.post("/login", data={"pin": PIN, "csrf_token": token, "next": target})
    assert response.headers["Location"] == landing


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example",
                                    "/%7f/evil.example", "//%5B"])
def test_login_never_redirects_off_site_nor_fails_on_odd_targets(pin_client, client, target):
    """Browsers drop tabs and newlines from a Location: `/<tab>/evil.example` leaves the booth."""
    assert client.get(f"/login?next={target}").headers["Location"] == "/look"  # no PIN set
    token = csrf_of(pin_client, "/login")
    response = pin_client.post("/login", data={"pin": PIN, "csrf_token": token,
                                               "next": unquote(target)})
    assert response.status_code == 303 and response.headers["Location"] == "/look"


def test_a_form_sent_after_the_login_lapsed_comes_back_to_its_page(pin_client):
    name = saved_gallery(pin_client.application, 1)[0]
    token = csrf_of(pin_client, f"/gallery/{name}")
    response = pin_client.post(f"/gallery/{name}/delete", data={"csrf_token": token},
                               headers={"Referer": f"http://localhost/gallery/{name}"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/gallery/{name}"  # not the POST-only address
    foreign = pin_client.post(f"/gallery/{name}/delete", data={"csrf_token": token},
                              headers={"Referer": "http://localhost.evil.example/x"})
    assert foreign.headers["Location"] == "/login?next=/look"


def test_login_page_without_a_pin_goes_straight_on(client):
    response = client.get("/login?next=/gallery")
    assert response.status_code == 302 and response.headers["Location"] == "/gallery"


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize("method, path, kwargs", [
    ("put", "/api/look", {"json": {"hair_color": "BLACK"}}),
    ("post", "/api/capture", {}),
    ("post", "/look", {"data": {"hair_color": "BLACK"}}),
    ("post", "/logout", {}),
])
def test_browser_requests_without_the_csrf_token_are_refused(client, method, path, kwargs):
    csrf_of(client)  # the browser has a session cookie now
    call = getattr(client, method)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"Origin": "http://evil.example"}):
        response = call(path, headers=headers, **kwargs)
        assert response.status_code == 403, headers
        assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/api/look").get_json() == DEFAULT_LOOK.to_dict()


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "localhost.evil.example"])
def test_a_name_that_is_not_the_booths_is_refused(app, host):
    """DNS rebinding: a page on a rebound name must not read the page or use its token."""
    fresh = app.test_client()
    for method, path in (("get", "/look"), ("get", "/api/look"), ("delete", "/api/gallery/x.png")):
        response = getattr(fresh, method)(path, headers={"Host": host})
        assert response.status_code == 400, (method, path)
        assert "web.public_url" in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "192.168.1.20:8000", "[::1]:8000",
                                  "[fe80::1]:8000", "BOOTH-7", "booth-7.local.:8000",
                                  "booth.lan:8080", "kiosk.example.org:8000"])
def test_the_booths_own_names_and_addresses_are_served(make_app, monkeypatch, host):
    """IP addresses, the hostname (.local too), web.public_url's host, and web.host when it is
    a name, since the QR codes then carry it."""
    monkeypatch.setattr("socket.gethostname", lambda: "booth-7")
    app = make_app(web_public_url="http://booth.lan:8080", web_host="kiosk.example.org")
    assert app.test_client().get("/api/look", headers={"Host": host}).status_code == 200


def test_a_cross_site_request_without_cookies_is_refused(app):
    fresh = app.test_client(use_cookies=False)
    response = fresh.put("/api/look", json={"hair_color": "BLACK"}, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    response = fresh.put("/api/look", json={"hair_color": "BLACK"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


def test_scripts_on_the_lan_may_call_the_api_without_a_token(app):
    script = app.test_client(use_cookies=False)
    assert script.put("/api/look", json={"hair_color": "BLACK"}).status_code == 200


def test_the_csrf_token_belongs_to_the_session(app):
    alice, mallory = app.test_client(), app.test_client()
    stolen = csrf_of(mallory)
    csrf_of(alice)
    response = alice.put("/api/look", json={"hair_color": "BLACK"}, headers={"X-CSRF-Token": stolen})
    assert response.status_code == 403


# ---------------------------------------------------------------- errors and the session key


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/nothing-here", 404), ("get", "/api/capture", 405), ("post", "/api/status", 405),
])
def test_api_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path, headers=browser_headers(client))
    assert response.status_code == status
    assert response.get_json()["status"] == status


def test_an_error_page_is_announced(client):
    page = client.get("/gallery/no-such.png").get_data(as_text=True)
    assert '<p class="notice error" role="alert">No such memoji.' in page


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_wrong_method_says_which_are_allowed_on_pages_too(make_app, accept):
    """Opening /logout (a form's POST address) in a browser: a 405 page, not a crash."""
    client = make_app(test_config={"TESTING": False}).test_client()
    response = client.get("/logout", headers={"Accept": accept})
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


def test_a_crash_is_a_plain_500_with_the_trace_only_in_the_log(make_app, tmp_path, caplog):
    client = make_app(booth=BrokenBooth(tmp_path)).test_client()
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/status")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in response.get_json()["error"]
    assert "secret internal detail" not in body and "Traceback" not in body
    assert "secret internal detail" in caplog.text
    page = client.get("/live")
    assert page.status_code == 500 and "Traceback" not in page.get_data(as_text=True)


def test_the_session_key_is_made_once_private_and_kept(make_app, tmp_path):
    first = make_app()
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    assert make_app().config["SECRET_KEY"] == first.config["SECRET_KEY"] == key_file.read_bytes()
    key_file.write_bytes(b"short")
    assert len(make_app().config["SECRET_KEY"]) == 32


def test_the_session_key_is_never_readable_by_others(make_app, tmp_path, monkeypatch, caplog):
    """Made 0600 from its first byte (not chmod-ed after the write), and a copied-in key
    file others may read is made private at start."""
    from device import storage

    modes = []
    real_create = storage._create_temp_beside
    monkeypatch.setattr(storage, "_create_temp_beside",
                        lambda path, mode=0o644: modes.append(mode) or real_create(path, mode))
    make_app()
    assert modes[-1] == 0o600
    key_file = tmp_path / "data" / "secret_key"
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        make_app()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "could be read by other users" in caplog.text


def test_a_login_survives_a_restart(make_app):
    client = make_app(pin=PIN).test_client()
    token = csrf_of(client, "/login")
    client.post("/login", data={"pin": PIN, "csrf_token": token})
    cookie = client.get_cookie("session")
    again = make_app(pin=PIN).test_client()
    again.set_cookie("session", cookie.value)
    response = again.put("/api/look", json={"hair_color": "RED"}, headers=browser_headers(again))
    assert response.status_code == 200


DAY_S = 24 * 3600


def log_in(client) -> str:
    """Log in as the operator's phone does; the page's CSRF token."""
    token = csrf_of(client, "/login")
    assert client.post("/login", data={"pin": PIN, "csrf_token": token}).status_code == 303
    return token


def seconds_a_phone_keeps(set_cookie: str, phone_now: float) -> float:
    """How long a browser whose clock reads `phone_now` keeps this cookie (RFC 6265: Max-Age
    first, else Expires by the phone's own clock; neither: until the browser closes)."""
    from email.utils import parsedate_to_datetime
    from http.cookies import SimpleCookie

    [morsel] = SimpleCookie(set_cookie).values()
    if morsel["max-age"]:
        return float(morsel["max-age"])
    if morsel["expires"]:
        return parsedate_to_datetime(morsel["expires"]).timestamp() - phone_now
    return math.inf


@pytest.mark.parametrize("phone_ahead_s", [0, 2 * DAY_S, 365 * DAY_S])
def test_a_phone_keeps_the_login_whatever_the_booths_clock_says(make_app, phone_ahead_s):
    """A Pi that booted at its last shutdown's time (or its image's date) at an event without
    internet is behind the phones: a cookie dated by its clock had ended already for them,
    so the phone dropped it at once, with the login and the page's CSRF token."""
    client = make_app(pin=PIN).test_client()
    token = csrf_of(client, "/login")
    response = client.post("/login", data={"pin": PIN, "csrf_token": token})
    [cookie] = response.headers.getlist("Set-Cookie")
    assert seconds_a_phone_keeps(cookie, time.time() + phone_ahead_s) == pytest.approx(12 * 3600, abs=60)


@pytest.mark.parametrize("jump_s", [30 * DAY_S, -365 * DAY_S, -5])
def test_the_wall_clock_jumping_logs_no_phone_out(make_app, monkeypatch, jump_s):
    """NTP sets the Pi's clock forward by hours or months once a network answers, and a
    Pi that lost power boots behind the time its phones' cookies were signed: every jump
    logged every phone out and voided every open page's CSRF token (a 403 on the next form)."""
    app = make_app(pin=PIN)
    operator, guest = app.test_client(), app.test_client()
    token, guest_token = log_in(operator), csrf_of(guest)
    wall = time.time()
    monkeypatch.setattr(time, "time", lambda: wall + jump_s)
    look = operator.put("/api/look", json={"hair_color": "RED"},
                        headers={"X-CSRF-Token": token, "Origin": "http://localhost"})
    assert look.status_code == 200
    logged_out = guest.post("/look", data={"hair_color": "RED", "csrf_token": guest_token})
    assert logged_out.status_code == 302 and "/login" in logged_out.headers["Location"]  # not a 403


def test_a_login_still_ends_twelve_hours_after_its_last_use(make_app):
    """The clock the sessions are dated by does not jump, but it does run."""
    from device.webui.sessions import SteadyClock, SteadySessionInterface

    elapsed = [0.0]
    app = make_app(pin=PIN)
    app.session_interface = SteadySessionInterface(SteadyClock(monotonic=lambda: elapsed[0]))
    client = app.test_client()
    token = log_in(client)
    headers = {"X-CSRF-Token": token, "Origin": "http://localhost"}
    elapsed[0] += 11 * 3600
    assert client.put("/api/look", json={"hair_color": "RED"}, headers=headers).status_code == 200
    elapsed[0] += 11 * 3600  # 22 hours after the login, 11 after the request that renewed it
    assert client.put("/api/look", json={"hair_color": "RED"}, headers=headers).status_code == 200
    elapsed[0] += 12 * 3600 + 1
    assert "Operator log in" in client.get("/look").get_data(as_text=True)


def test_a_login_that_ended_under_an_open_page_asks_to_log_in_again(make_app):
    """The login's cookie ends after 12 hours and takes the session's CSRF token with it: the
    page opened before then must be told to log in (401: the editor keeps the edits for after
    it), not that its form "came from another site"."""
    app = make_app(pin=PIN)
    operator = app.test_client()
    token = log_in(operator)
    name = saved_gallery(app, 1)[0]
    operator.delete_cookie("session")  # the phone dropped it at its Max-Age
    headers = {"X-CSRF-Token": token, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    look = operator.put("/api/look", json={"hair_color": "RED"}, headers=headers)
    assert look.status_code == 401 and "log in" in look.get_json()["error"]
    assert operator.delete(f"/api/gallery/{name}", headers=headers).status_code == 401
    form = operator.post("/look", data={"hair_color": "RED", "csrf_token": token},
                         headers={"Referer": "http://localhost/look"})
    assert form.status_code == 302 and form.headers["Location"] == "/login?next=/look"
    assert (app.config["GALLERY_DIR"] / name).is_file()
    assert operator.post("/api/photo", headers=headers).status_code == 403  # a guest's form: expired


def test_a_wrapper_put_around_an_operator_only_view_is_not_let_past_the_csrf_check(make_app):
    """The mark that lets a guest's request reach an operator-only view (to be told to log in)
    was copied by functools.wraps to any wrapper around it, whose own code then ran on a
    request with no CSRF token."""
    import functools

    from device.webui.security import operator_required

    app = make_app(pin=PIN)
    ran = []

    def counted(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            ran.append(view.__name__)
            return view(*args, **kwargs)
        return wrapper

    app.add_url_rule("/wrapped", "wrapped", counted(operator_required(lambda: "changed")),
                     methods=["POST"])
    app.add_url_rule("/bare", "bare", operator_required(lambda: "changed"), methods=["POST"])
    guest = app.test_client()
    headers = {"Origin": "http://localhost"}
    assert guest.post("/wrapped", headers=headers).status_code == 403 and ran == []
    bare = guest.post("/bare", headers=headers)  # the guard's own answer: log in
    assert bare.status_code == 302 and bare.headers["Location"].startswith("/login")


def test_a_new_pin_ends_the_logins_made_with_the_old_one(make_app):
    """The operator's way to shut out a phone that learned the PIN (or a copied cookie):
    set a new PIN and restart."""
    client = make_app(pin=PIN).test_client()
    client.post("/login", data={"pin": PIN, "csrf_token": csrf_of(client, "/login")})
    cookie = client.get_cookie("session")
    again = make_app(pin="97531").test_client()
    again.set_cookie("session", cookie.value)
    response = again.put("/api/look", json={"hair_color": "RED"}, headers=browser_headers(again))
    assert response.status_code == 401
    assert "Operator log in" in again.get("/look").get_data(as_text=True)


# ---------------------------------------------------------------- the server


def test_the_server_refuses_a_body_beyond_the_upload_limit_before_reading_it(make_app):
    """Flask checks MAX_CONTENT_LENGTH only after waitress has buffered the whole body (up to
    1 GiB by default, on the SD card): far beyond the limit, waitress itself must answer 413
    from the header."""
    app = make_app(web_max_upload_mb=1)
    with start_in_thread(app, "127.0.0.1", 0) as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"POST /api/photo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               b"Content-Length: 500000000\r\n\r\n" + b"\0" * 65536)
            assert connection.recv(64).startswith(b"HTTP/1.1 413")


def test_a_photo_a_few_mb_over_the_limit_gets_the_page_s_own_message_from_the_plain_form(make_app):
    """Without JavaScript the form posts whatever the phone picked: a photo just over the
    limit must reach Flask's 413 (the page, in words), not waitress's plain-text one."""
    app = make_app(web_max_upload_mb=1)
    over = b"\xff\xd8" + b"\0" * (3 * 1024 * 1024)  # three times the limit
    boundary = "form-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + over + f"\r\n--{boundary}--\r\n".encode()
    with start_in_thread(app, "127.0.0.1", 0) as handle:
        request = urllib.request.Request(handle.url + "/photo", data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "text/html"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        page = refused.value.read().decode()
    assert refused.value.code == 413
    assert refused.value.headers.get_content_type() == "text/html"
    assert "The upload is too large: the limit is 1 MB" in page


def test_the_page_still_answers_with_the_idle_connections_of_25_phones_open(app):
    """A phone's browser keeps its connections to the page open (Chromium: six after the
    gallery); waitress's default limit of 100 made the 17th such phone wait up to 150 s."""
    import http.client

    with start_in_thread(app, "127.0.0.1", 0) as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        idle = []
        try:
            for _ in range(25 * 6):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                idle.append(connection)
                connection.request("GET", "/api/look")
                assert connection.getresponse().read()  # answered, then kept open, idle
        finally:
            for connection in idle:
                connection.close()


class IdleChannel:
    """What waitress's idle check reads of a connection: its requests under way and the
    wall-clock time it last sent or received."""

    def __init__(self, last_activity: float) -> None:
        self.requests: list = []
        self.last_activity = last_activity
        self.will_close = False


@pytest.mark.parametrize("jump_s", [-365 * DAY_S, 30 * DAY_S])
def test_idle_connections_are_timed_by_a_clock_that_does_not_jump(app, monkeypatch, jump_s):
    """waitress closes a connection after IDLE_TIMEOUT_S without traffic, timed by the wall
    clock. Set back a year, it checked no connection for a year, so those of phones gone
    out of range piled up to the connection limit; set forward, it cut every one at once."""
    from device.webui.server import CLEANUP_INTERVAL_S, IDLE_TIMEOUT_S, _make_server

    wall, steady = [time.time()], [1000.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    server = _make_server(app, "127.0.0.1", 0, threads=1, idle_clock=lambda: steady[0])
    try:
        gone, busy = IdleChannel(wall[0]), IdleChannel(wall[0])
        busy.requests.append("a download")
        server.active_channels.update({101: gone, 102: busy})
        server.readable()  # a turn of waitress's loop
        wall[0] += jump_s
        steady[0] += CLEANUP_INTERVAL_S
        fresh = IdleChannel(wall[0])  # a phone that has just loaded a page
        server.active_channels[103] = fresh
        server.readable()
        assert not any(channel.will_close for channel in (gone, busy, fresh))
        wall[0] += IDLE_TIMEOUT_S + CLEANUP_INTERVAL_S
        steady[0] += IDLE_TIMEOUT_S + CLEANUP_INTERVAL_S
        server.readable()
        assert gone.will_close and fresh.will_close and not busy.will_close
    finally:
        server.close()
        server.task_dispatcher.shutdown()


def test_a_request_waiting_for_a_worker_is_not_a_warning_in_the_journal():
    """waitress warns each time a request queues; two phones made hundreds an hour."""
    import device.webui.server as server

    assert logging.getLogger("waitress.queue").getEffectiveLevel() >= logging.ERROR
    assert server.THREADS >= 8


def test_a_port_in_use_fails_without_leaving_threads_behind(app):
    """The booth retries a page that could not start every 30 s, for days if need be."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = set(threading.enumerate())
        for _ in range(5):
            with pytest.raises(OSError):
                start_in_thread(app, "127.0.0.1", port)
        # New threads, not a count: another test's thread ending meanwhile hid a leak
        # (or failed the test) when only the number was compared.
        assert set(threading.enumerate()) - before == set()


def test_start_in_thread_serves_on_an_ephemeral_port_and_closes(app):
    handle = start_in_thread(app, "127.0.0.1", 0)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", handle.url) and not handle.url.endswith(":0")
        with urllib.request.urlopen(handle.url + "/api/status", timeout=5) as response:
            assert json.load(response)["running"] is False
            assert "waitress" not in response.headers.get("Server", "")
        # A slow client holding a connection open does not stop the server from answering others.
        import socket

        slow = socket.create_connection(handle.server.socket.getsockname()[:2], timeout=5)
        slow.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")  # never finishes its request
        with urllib.request.urlopen(handle.url + "/api/look", timeout=5) as response:
            assert response.status == 200
    finally:
        handle.close(timeout=30)  # the booth waits 5 s at most: a busy machine may need longer
        slow.close()
    assert not handle.thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(handle.url + "/api/status", timeout=2)
    handle.close()  # twice is fine


# ---------------------------------------------------------------- with the real booth


def test_with_the_real_booth_capture_and_status_go_through_its_loop(tmp_path):
    from device.app import Booth
    from tests.test_app import FakeClock

    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.full((480, 640, 3), 180, np.uint8))
    config = make_config(tmp_path / "data", display_mode="none", button_enabled=False, web_enabled=False,
                         camera_source=str(frame), booth_countdown_s=3)
    clock = FakeClock()  # 1/30 s a reading: the 3 s countdown outlasts 3 frames, however slow
    booth = Booth(config, analyser=FakeAnalyser("happy"), button=False, clock=clock, sleep=clock.sleep)
    client = create_app(config, booth=booth, test_config={"TESTING": True}).test_client()
    assert client.post("/api/capture").status_code == 202
    assert client.put("/api/look", json={"preset": "male"}).status_code == 200
    booth.run(frames=3)
    status = client.get("/api/status").get_json()
    assert status["running"] is True
    assert status["state"] == "countdown"  # the web's capture started the kiosk's countdown
    assert status["expression"] == "happy" and status["face"] == [160, 120, 320, 240]
    assert LookStore(tmp_path / "data" / "look.json").load() == apply_preset(DEFAULT_LOOK, "male")


def test_with_the_real_booth_and_no_model_capture_is_503_with_the_path(tmp_path):
    from device.app import Booth

    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.full((480, 640, 3), 180, np.uint8))
    missing = tmp_path / "models" / "emotion.tflite"
    config = make_config(tmp_path / "data", display_mode="none", button_enabled=False, web_enabled=False,
                         camera_source=str(frame), model_path=str(missing))
    booth = Booth(config, button=False)
    assert booth.analyser is None and booth.model_error
    client = create_app(config, booth=booth, test_config={"TESTING": True}).test_client()
    try:
        response = client.post("/api/capture")
    finally:
        booth.run(frames=1)  # shows the model error and shuts down its threads
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert booth.model_error in error
    assert "Expression model not found" in error and str(missing) in error


def test_a_card_that_cannot_be_written_is_named_not_a_500(client, monkeypatch, caplog):
    """A card the kernel remounted read-only: the phone is told it is the card, in words."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "/data/.look.json.1f2e3d.tmp")

    monkeypatch.setattr(LookStore, "save", read_only)
    response = client.put("/api/look", json={"hair_color": "RED"})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert "memory card (Read-only file system)" in error and ".tmp" not in error
    response = client.post("/look", data={"csrf_token": csrf_of(client), "hair_color": "RED"})
    assert response.status_code == 503 and b"memory card (Read-only file system)" in response.data


def test_a_card_that_cannot_be_written_is_one_line_in_the_journal_not_one_per_request(
        client, monkeypatch, caplog):
    """It was a traceback for every request (the card is at fault, not the code), naming the
    temporary file rather than the folder."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "/data/.look.json.1f2e3d.tmp")

    monkeypatch.setattr(LookStore, "save", read_only)
    with caplog.at_level(logging.DEBUG, logger="device.webui.errors"):
        for _ in range(3):
            assert client.put("/api/look", json={"hair_color": "RED"}).status_code == 503
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR and line.exc_info is None
    assert line.getMessage().startswith("a phone's request failed (PUT /api/look): /data cannot "
                                        "be used (Read-only file system). The memory card may be")


@pytest.mark.parametrize("path, folder", [
    ("gallery/.memoji-1.png.1f2e3d4c5b6a.tmp", "gallery"),  # a file in the gallery
    ("gallery", "."),  # the gallery folder, which could not be made: not there to look at
])
def test_a_card_fault_names_the_folder_the_write_was_refused_in_as_the_booth_does(
        app, client, monkeypatch, caplog, path, folder):
    """The booth named its gallery folder whatever failed, the page the folder the write was
    refused in (storage.card_fault_where now serves both: tests/test_app.py)."""
    data = app.config["DATA_DIR"]

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(data / path))

    monkeypatch.setattr(Gallery, "save", refused)
    with caplog.at_level(logging.ERROR, logger="device.webui"):
        assert upload(client, bright_photo()).status_code == 503
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.startswith(f"a phone's request failed (POST /api/photo): "
                           f"{os.path.normpath(data / folder)} cannot be used (Permission denied)"), line


# Each view that saves to the card, as a phone calls it: its response.
SAVES = {
    "photo (API)": lambda client: upload(client, bright_photo()),
    "photo (page)": lambda client: client.post("/photo", data={
        "csrf_token": csrf_of(client, "/photo"), "photo": (io.BytesIO(bright_photo()), "selfie.jpg")}),
    "look (API)": lambda client: client.put("/api/look", json={"hair_color": "RED"},
                                            headers=browser_headers(client)),
    "look (page)": lambda client: client.post("/look", data={"csrf_token": csrf_of(client),
                                                             "hair_color": "RED"}),
}
# ... and each that deletes from it (a memoji the test saved).
DELETES = {
    "delete (API)": lambda client, name: client.delete(f"/api/gallery/{name}",
                                                       headers=browser_headers(client)),
    "delete (page)": lambda client, name: client.post(f"/gallery/{name}/delete",
                                                      data={"csrf_token": csrf_of(client)}),
}


def _ended_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "device.webui.errors"
            and r.levelno == logging.INFO]


def _write(client, name: str, how: str):
    """One write the page makes, by its name in SAVES or DELETES; the response."""
    return SAVES[how](client) if how in SAVES else DELETES[how](client, name)


@pytest.mark.parametrize("how", SAVES)
def test_a_full_card_is_said_to_be_over_at_the_next_save(app, client, monkeypatch, caplog, how):
    """The page logged a full card when it started and every five minutes, but never when it
    ended: no view told it of a success, and the operator could not tell it was over."""
    def full(*args, **kwargs):
        raise StorageFullError(app.config["DATA_DIR"])

    with monkeypatch.context() as card_full, caplog.at_level(logging.INFO, logger="device.webui"):
        card_full.setattr(LookStore, "save", full)
        card_full.setattr(Gallery, "save", full)
        for _ in range(2):
            assert SAVES[how](client).status_code == 507
        assert _ended_lines(caplog) == []
    with caplog.at_level(logging.INFO, logger="device.webui"):
        for _ in range(2):  # the card has room again; said once
            assert SAVES[how](client).status_code < 400
    assert _ended_lines(caplog) == ["phones' photos and looks are saved again, after 2 that could not be"]


@pytest.mark.parametrize("how", [*SAVES, *DELETES])
def test_a_card_that_could_not_be_written_is_said_to_work_at_the_next_write(
        app, client, monkeypatch, caplog, how):
    name = saved_gallery(app, 1)[0]

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(app.config["DATA_DIR"] / ".x.tmp"))

    with monkeypatch.context() as card, caplog.at_level(logging.INFO, logger="device.webui"):
        for owner, method in ((LookStore, "save"), (Gallery, "save"), (Gallery, "delete")):
            card.setattr(owner, method, read_only)
        for _ in range(2):
            assert _write(client, name, how).status_code == 503
        assert client.get("/api/gallery").status_code == 200  # a read proves nothing
        assert _ended_lines(caplog) == []
    with caplog.at_level(logging.INFO, logger="device.webui"):
        assert _write(client, name, how).status_code < 400
    assert _ended_lines(caplog) == ["phones' requests can use the memory card again, after 2 that failed"]


def test_a_deletion_does_not_end_a_full_card_a_save_does(app, client, monkeypatch, caplog):
    """Deleting needs no room: the next save may still find the card full."""
    name = saved_gallery(app, 1)[0]

    def full(*args, **kwargs):
        raise StorageFullError(app.config["DATA_DIR"])

    with caplog.at_level(logging.INFO, logger="device.webui"):
        with monkeypatch.context() as card_full:
            card_full.setattr(LookStore, "save", full)
            assert SAVES["look (API)"](client).status_code == 507
        assert DELETES["delete (API)"](client, name).status_code == 204
        assert _ended_lines(caplog) == []
        assert SAVES["look (API)"](client).status_code == 200
    assert _ended_lines(caplog) == ["phones' photos and looks are saved again, after 1 that could not be"]


def test_thumbnails_a_card_could_not_take_are_said_to_be_over_when_one_is_drawn(
        app, client, monkeypatch, caplog):
    """Not when one kept from before is sent: that proves nothing about the card."""
    from device import storage

    kept, new = saved_gallery(app, 2)
    assert client.get(f"/gallery/{kept}/thumb.png").status_code == 200  # drawn and kept

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with caplog.at_level(logging.INFO, logger="device.webui"):
        with monkeypatch.context() as card_full:
            card_full.setattr(storage.os, "write", full)
            for _ in range(2):
                assert client.get(f"/gallery/{new}/thumb.png").status_code == 200  # the memoji itself
            assert client.get(f"/gallery/{kept}/thumb.png").status_code == 200
        assert client.get(f"/gallery/{kept}/thumb.png").status_code == 200
        assert _ended_lines(caplog) == []
        assert client.get(f"/gallery/{new}/thumb.png").status_code == 200  # drawn now
    assert _ended_lines(caplog) == ["the gallery's thumbnails are written again, after 2 that could not be"]


def test_a_memoji_gone_while_sent_is_no_card_fault(client, monkeypatch, tmp_path, caplog):
    """Pruned or deleted between its lookup and its sending: FileNotFoundError is a race,
    not a card to fetch the operator for, and the answer is the 404 a retry would get."""
    def gone(self, name):
        return self.folder / name

    monkeypatch.setattr(Gallery, "path_of", gone)
    with caplog.at_level(logging.INFO, logger="device.webui"):
        response = client.get("/media/memoji-20260101-000000-000000-happy.png",
                              headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert "may have been deleted" in response.get_json()["error"]
    assert not caplog.records  # a race, no news for the operator
    monkeypatch.setattr(LookStore, "save", lambda *args: (tmp_path / "gone" / "look.json").write_text(""))
    response = client.put("/api/look", json={"hair_color": "RED"})
    assert response.status_code == 500 and "memoji" not in response.get_json()["error"]


def test_a_full_disk_is_reported_not_crashed(client, monkeypatch):
    from device.gallery import StorageFullError

    def full(*args, **kwargs):
        raise StorageFullError(__import__("pathlib").Path("/data"))

    monkeypatch.setattr(LookStore, "save", full)
    response = client.put("/api/look", json={"hair_color": "RED"})
    assert response.status_code == 507 and "Storage full" in response.get_json()["error"]
    page = client.post("/look", data={"csrf_token": csrf_of(client), "hair_color": "RED"})
    assert page.status_code == 507  # the page without JavaScript (werkzeug's abort() knows no 507: a 500)
    assert "<h1 class=\"page-title\">Memory card full</h1>" in page.get_data(as_text=True)
    assert "Storage full" in page.get_data(as_text=True)
    monkeypatch.setattr(Gallery, "save", full)
    response = upload(client, bright_photo())
    assert response.status_code == 507 and "Storage full" in response.get_json()["error"]
    page = client.post("/photo", data={"csrf_token": csrf_of(client, "/photo"),
                                       "photo": (io.BytesIO(bright_photo()), "selfie.jpg")})
    assert page.status_code == 507 and "Memory card full</h1>" in page.get_data(as_text=True)


def test_a_full_disk_is_told_to_the_journal_once(app, client, monkeypatch, caplog):
    """Phones told "Storage full" while the journal said nothing: an operator whose guests
    only upload photos never learnt of it."""
    from device.gallery import StorageFullError

    def full(*args, **kwargs):
        raise StorageFullError(__import__("pathlib").Path("/data"))

    monkeypatch.setattr(LookStore, "save", full)
    monkeypatch.setattr(Gallery, "save", full)
    with caplog.at_level(logging.INFO, logger="device.webui"):
        assert client.put("/api/look", json={"hair_color": "RED"}).status_code == 507
        assert upload(client, bright_photo()).status_code == 507
        assert upload(client, bright_photo()).status_code == 507
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR
    assert line.getMessage() == (f"a phone's photo or look was not saved: the memory card is full "
                                 f"({app.config['DATA_DIR']}). Delete memojis on the web page, "
                                 "lower storage.keep, or free space on the card")
