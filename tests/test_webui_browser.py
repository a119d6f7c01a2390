"""The LAN page in a real headless Chromium on a phone-sized screen (Playwright).

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python
package; Playwright's own browser downloads are never used. Screenshots go to
tests/artifacts/; with UPDATE_SCREENSHOTS=1 the Look page is also copied to
docs/screenshots/ for the README.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import cv2
import pytest

from device.webui import create_app, start_in_thread
from tests.webui_fakes import make_config

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
from playwright import sync_api  # noqa: E402  (the dev extra; a missing package is an error, not a skip)

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
README_SCREENSHOT = REPO / "docs" / "screenshots" / "phone-look.png"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _serve(data_dir: Path, **settings):
    with pytest.MonkeyPatch.context() as patch:  # module-wide: before conftest's per-test one
        patch.delenv("MEMOJI_BOOTH_CONFIG", raising=False)
        patch.setenv("XDG_CONFIG_HOME", str(data_dir / "xdg"))
        app = create_app(make_config(data_dir, **settings))
    return start_in_thread(app, "127.0.0.1", 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("booth-data")


@pytest.fixture(scope="module")
def server(data_dir):
    handle = _serve(data_dir)
    yield handle
    handle.close()


PIN = "2468"


@pytest.fixture(scope="module")
def pin_server(tmp_path_factory):
    handle = _serve(tmp_path_factory.mktemp("pin-booth-data"), web_pin=PIN)
    yield handle
    handle.close()


@pytest.fixture
def problems() -> list[str]:
    """Script errors and failed loads seen by the page; a test that expects one removes it."""
    return []


@pytest.fixture
def open_phone(browser, problems):
    """Opens a page on a phone of a given size and browser text setting; closed after the test."""
    contexts = []

    def open_(server, viewport=(390, 844), text_percent=100, scale=2):
        width, height = viewport
        context = browser.new_context(base_url=server.url, accept_downloads=True,
                                      **{**PHONE, "viewport": {"width": width, "height": height},
                                         "device_scale_factor": scale})
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        if text_percent != 100:
            # What Chrome's "font size" setting changes: the size that `rem` and `100%` start from.
            cdp = context.new_cdp_session(page)
            cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 16 * text_percent // 100,
                                                         "fixed": 13 * text_percent // 100}})
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(open_phone, server):
    return open_phone(server)


def test_text_follows_the_browsers_font_size_setting(open_phone, server):
    page = open_phone(server, text_percent=200)
    page.goto("/look")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "32px"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"webui-{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_for_image(page, selector: str) -> None:
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )


def test_change_the_hair_colour_see_the_preview_change_save_and_find_it_kept(page):
    page.goto("/look")
    wait_for_image(page, "#preview")
    screenshot(page, "look")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "webui-look.png", README_SCREENSHOT)

    before_src = page.get_attribute("#preview", "src")
    before = page.request.get(before_src).body()
    assert page.is_checked('input[name="hair_color"][value="BROWN"]')

    page.click('label.swatch:has(input[name="hair_color"][value="BLACK"])')
    page.wait_for_function("old => document.querySelector('#preview').getAttribute('src') !== old",
                           arg=before_src)
    wait_for_image(page, "#preview")
    after_src = page.get_attribute("#preview", "src")
    assert "hair_color=BLACK" in after_src
    after = page.request.get(after_src).body()
    assert after.startswith(b"\x89PNG") and after != before
    assert page.is_visible("#dirty")

    page.click('.chip[data-expression="surprise"]')
    page.wait_for_function("() => document.querySelector('#preview').src.includes('expression=surprise')")
    wait_for_image(page, "#preview")
    screenshot(page, "look-edited")

    page.click("#save")
    page.wait_for_selector("#toast:has-text('Saved')")
    assert page.is_hidden("#dirty")
    page.reload()
    wait_for_image(page, "#preview")
    assert page.is_checked('input[name="hair_color"][value="BLACK"]')
    assert page.request.get("/api/look").json()["hair_color"] == "BLACK"


# What a page must not do on a small screen; each problem is a line naming the element.
LAYOUT_PROBLEMS = r"""
() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}` +
    `${[...el.classList].map((c) => "." + c).join("")} "${el.textContent.trim().replace(/\s+/g, " ").slice(0, 30)}"`;
  const box = (el) => {
    if (el.closest(".visually-hidden, [hidden]")) return null;
    const r = el.getBoundingClientRect();
    return r.width && r.height && getComputedStyle(el).visibility !== "hidden" ? r : null;
  };
  const lines = (el) => {  // how many lines its text runs over
    const bottoms = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width) bottoms.add(Math.round(r.bottom));
    }
    return bottoms.size;
  };
  if (document.documentElement.scrollWidth > width) {
    problems.push(`scrolls sideways: ${document.documentElement.scrollWidth} px wide`);
  }
  const reported = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = box(el);
    if (!r || reported.some((outer) => outer.contains(el))) continue;
    const clipped = !el.matches("input, select") && getComputedStyle(el).overflowX !== "visible" &&
      el.scrollWidth > el.clientWidth + 1;
    if (clipped || r.left < -1 || r.right > width + 1) {
      problems.push(`${clipped ? "clipped" : "off the screen"}: ${name(el)}`);
      reported.push(el);
    }
  }
  for (const el of document.querySelectorAll("a[href], button, select, input")) {
    const r = box(el);
    // A link inside a sentence is exempt (WCAG 2.5.8): it cannot grow without breaking the text.
    const inSentence = el.matches("a") && getComputedStyle(el).display === "inline" &&
      /\p{L}/u.test(el.parentElement.textContent.replace(el.textContent, ""));
    if (r && !inSentence && (r.width < 44 || r.height < 44)) {
      problems.push(`smaller than 44x44 px to tap: ${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  for (const el of document.querySelectorAll(".bar")) {
    if ((box(el)?.width || 0) < 48) problems.push(`a bar too short to read: ${name(el.parentElement)}`);
  }
  for (const el of document.querySelectorAll(".tabs a, .brand span, .operator")) {
    if (box(el) && lines(el) > 1) problems.push(`label broken over ${lines(el)} lines: ${name(el)}`);
  }
  return problems;
}
"""

# The share of the screen that bars staying in place (the tabs, the save bar) cover.
COVERED = """
() => {
  const tabs = document.querySelector(".tabs").getBoundingClientRect();
  const top = tabs.top <= 0 && tabs.bottom > 0 ? tabs.bottom : 0;
  const bar = document.querySelector(".savebar").getBoundingClientRect();
  return (top + innerHeight - bar.top) / innerHeight;
}
"""

# The narrowest phone, the same with the browser's text at 200%, a common phone at 200%,
# and a small phone on its side at 200%.
SCREENS = [((320, 568), 100), ((320, 568), 200), ((390, 844), 200), ((568, 320), 200)]


@pytest.fixture(scope="module")
def memojis(data_dir) -> list[str]:
    """25 saved memojis (newest first): three gallery pages, so page 2 has Newer and Older."""
    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    gallery = Gallery(data_dir / "gallery", keep=100)
    png = render_png(DEFAULT_LOOK, "surprise", 128)
    return [gallery.save(png, expression="surprise", score=0.7, look=DEFAULT_LOOK).name
            for _ in range(25)][::-1]


@pytest.mark.parametrize("viewport, text_percent", SCREENS,
                         ids=[f"{w}x{h}-text{t}" for (w, h), t in SCREENS])
def test_every_page_fits_the_screen(open_phone, problems, server, pin_server, memojis, viewport,
                                    text_percent):
    """Nothing scrolls sideways, sits off the screen or is cut off, no label breaks
    mid-way, and every link and button is at least 44x44 px, with the phone's text setting
    at 100% and 200%; the header also with the operator's log-in and log-out links."""
    found = {}

    def check(page, label, path):
        page.goto(path)
        if path == "/look":  # an edit shows "Not saved yet" in the save bar
            page.select_option("select[name=hair_type]", index=1)
            page.wait_for_selector("#dirty", state="visible")
        found[f"{label}{path}"] = page.evaluate(LAYOUT_PROBLEMS)
        if path == "/look":
            page.evaluate("Booth.toast('The booth cannot be reached. Is the phone on the booth\\'s network?', 'error')")
            toast = page.locator("#toast").bounding_box()  # a long message: all the width it can have
            if toast["y"] < 0 or toast["width"] < viewport[0] - 24 - 1:
                found[f"{label}{path}"].append(f"the message is squeezed or off the screen: {toast}")
            page.mouse.wheel(0, 600)  # the tabs, if they stay on top, and the save bar
            page.wait_for_function("() => scrollY > 0")
            covered = page.evaluate(COVERED)
            if covered > 0.35:
                found[f"{label}{path}"].append(f"fixed bars cover {covered:.0%} of the screen")

    page = open_phone(server, viewport, text_percent)
    for path in ["/look", "/live", "/gallery", "/gallery?page=2", f"/gallery/{memojis[0]}", "/photo",
                 "/no-such-page"]:
        check(page, "", path)
    problems.remove("console error: Failed to load resource: the server responded with a status of 404 (NOT FOUND)")
    guest = open_phone(pin_server, viewport, text_percent)
    for path in ["/login", "/look", "/gallery", "/gallery?page=4"]:  # its gallery is empty
        check(guest, "guest ", path)
    operator = open_phone(pin_server, viewport, text_percent)
    log_in(operator)
    check(operator, "operator ", "/look")
    assert {path: problems for path, problems in found.items() if problems} == {}


# Colour sums for the checks below (WCAG's formulas): a computed CSS colour as [r, g, b, a]
# (the first in the value, so a box-shadow's too), a colour laid over another, the contrast
# of two, and the colour an element is drawn on (its own background and its ancestors', on white).
COLOUR_MATHS = r"""
  const rgba = (text) => {
    const v = text.match(/rgba?\(([^)]*)\)/)[1].match(/[\d.]+/g).map(Number);
    return [v[0], v[1], v[2], v[3] ?? 1];
  };
  const over = ([r, g, b, a], below) => [r * a + below[0] * (1 - a), g * a + below[1] * (1 - a), b * a + below[2] * (1 - a)];
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (one, other) => {
    const [light, dark] = [luminance(one), luminance(other)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
  };
  const backdrop = (start) => {
    const layers = [];
    for (let node = start; node; node = node.parentElement) layers.unshift(rgba(getComputedStyle(node).backgroundColor));
    return layers.reduce((below, layer) => over(layer, below), [255, 255, 255]);
  };
"""

# The focused element, and what is wrong with how it shows: hidden under a bar that stays
# in place (the tabs, the save bar) or off the screen, or a focus ring thinner than 2 px or
# under 3:1 against the colour around it (WCAG 1.4.11). A swatch or the file picker shows
# the ring of its hidden input on the element after it.
FOCUS_PROBLEMS = """
() => {""" + COLOUR_MATHS + r"""
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const name = `${el.tagName.toLowerCase()}${el.name ? "[name=" + el.name + "]" : ""}` +
    ` "${(el.textContent || el.value || "").trim().replace(/\s+/g, " ").slice(0, 30)}"`;
  // Its top, bottom, middle and both ends (inset by half its height: pills are round there),
  // on each line it runs over.
  const points = [...el.getClientRects()].flatMap((r) => {
    const [x, y, inset] = [(r.left + r.right) / 2, (r.top + r.bottom) / 2, Math.min(r.height, r.width) / 2];
    return [[x, r.top + 1], [x, r.bottom - 1], [x, y], [r.left + inset, y], [r.right - inset, y]];
  });
  const covers = points.map(([x, y]) => document.elementFromPoint(x, y)).filter(
    (hit) => !hit || !(el.contains(hit) || [...(el.labels || [])].some((label) => label.contains(hit))));
  const cover = covers[0] ? `under ${covers[0].tagName.toLowerCase()} "${covers[0].textContent.trim().slice(0, 20)}"` : "off the screen";
  const problems = covers.length ? [`not fully in view: ${cover}`] : [];

  const ringed = el.matches(".swatch input, .file-picker input") ? el.nextElementSibling : el;
  const style = getComputedStyle(ringed);
  // The colour the ring sits on: the element's own for a ring drawn inside it, else around it.
  const around = backdrop(parseFloat(style.outlineOffset) < 0 ? ringed : ringed.parentElement);
  const ratio = contrast(over(rgba(style.outlineColor), around), around);
  if (!["solid", "double", "dashed", "dotted"].includes(style.outlineStyle) || parseFloat(style.outlineWidth) < 2) {
    problems.push(`focus ring: ${style.outlineStyle} ${style.outlineWidth}`);
  } else if (ratio < 3) {
    problems.push(`focus ring contrast ${ratio.toFixed(2)}:1`);
  }
  return { name, problems };
}
"""


def walk_with_tab(page, key="Tab", most=80) -> dict[str, list[str]]:
    """Press Tab (or Shift+Tab) through the page; what is wrong with each focused element's showing."""
    found = {}
    for _ in range(most):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUS_PROBLEMS)
        if focused is None or focused["name"] in found:
            break
        found[focused["name"]] = focused["problems"]
    return found


@pytest.mark.parametrize("viewport, text_percent", [((390, 844), 100), ((568, 320), 200)],
                         ids=["390x844", "568x320-text200"])
def test_keyboard_focus_shows_clearly_and_is_never_hidden_under_the_bars(open_phone, pin_server, viewport,
                                                                           text_percent):
    """Tab through the Look page and back (the save bar at the bottom, the tabs at the top):
    each control in turn is scrolled fully into view, with a focus ring that stands out."""
    page = open_phone(pin_server, viewport, text_percent)
    page.goto("/look")
    forward = walk_with_tab(page)
    assert len(forward) > 15, forward  # every control was reached
    back = walk_with_tab(page, "Shift+Tab")
    hidden = {f"{way} {name}": problems for way, found in [("Tab", forward), ("Shift+Tab", back)]
              for name, problems in found.items() if problems}
    assert hidden == {}


def test_the_toast_is_a_live_region_that_screen_readers_follow_from_the_start(page):
    """A live region hidden until its message is written is not followed, so the message
    is not read out: it must be in the accessibility tree while empty, just not seen."""
    page.goto("/look")
    status = page.get_by_role("status").and_(page.locator("#toast"))
    assert status.count() == 1 and status.inner_text() == ""
    assert page.evaluate("document.getElementById('toast').getBoundingClientRect().width") <= 1
    page.click("#save")
    page.wait_for_selector("#toast:has-text('Saved')")
    assert status.bounding_box()["width"] > 100


# Each field's and colour swatch's edge, with its contrast against the card around it (WCAG
# 1.4.11): a field's border, a swatch's ring (its dot's box-shadow, outside a white border).
CONTROL_EDGES = """
() => {""" + COLOUR_MATHS + r"""
  return [...document.querySelectorAll("select, input[type=password], .swatch .dot")].map((el) => {
    const style = getComputedStyle(el);
    const around = backdrop(el.parentElement);
    const edge = over(rgba(el.matches(".dot") ? style.boxShadow : style.borderTopColor), around);
    return [el.name || el.dataset.swatch, Math.round(contrast(edge, around) * 100) / 100];
  });
}
"""


def test_every_field_and_colour_swatch_has_an_edge_that_stands_out(open_phone, pin_server):
    """An empty PIN field, or a white or pale swatch, on a white card shows only by its edge:
    that edge needs 3:1 against the card (the pale lilac line was 1.3:1)."""
    page = open_phone(pin_server)
    edges = []
    for path in ["/login", "/look"]:
        page.goto(path)
        edges += page.evaluate(CONTROL_EDGES)
    assert {kind for kind, _ in edges} >= {"pin", "hair_type", "#FFFFFF"}  # a white swatch among them
    assert [(kind, ratio) for kind, ratio in edges if ratio < 3] == []


# Before the page's scripts: every live region shown on the page when it loads is marked,
# so a message can be checked to be in one that screen readers followed from the start.
MARK_LIVE_REGIONS = """
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll(
  "[role=status], [role=alert], [aria-live]").forEach((region) => {
    if (region.checkVisibility()) region.dataset.atLoad = "yes";
  }));
"""

# A text's contrast with what it is drawn on, faded as much as it and its ancestors are.
TEXT_CONTRAST = """
(el) => {""" + COLOUR_MATHS + r"""
  let opacity = 1;
  for (let node = el; node; node = node.parentElement) opacity *= parseFloat(getComputedStyle(node).opacity);
  const around = backdrop(el);
  const [r, g, b, a] = rgba(getComputedStyle(el).color);
  return contrast(over([r, g, b, a * opacity], around), around);
}
"""


def read_out(page, words: str):
    """The status message saying `words`, checked to be in a live region that was there
    when the page loaded (one added or shown with its message is not read out)."""
    region = page.get_by_role("status").filter(has_text=words)
    region.wait_for(timeout=5000)
    assert region.get_attribute("data-at-load") == "yes", "not in a live region from the start"
    return region


def test_not_saved_yet_is_read_out_when_it_shows(page):
    """A change shows "Not saved yet" beside Save: a status message (WCAG 4.1.3) that a
    screen reader user hears too, or they leave thinking the look is kept."""
    page.add_init_script(MARK_LIVE_REGIONS)
    page.goto("/look")
    page.select_option("select[name=hair_type]", index=1)
    assert read_out(page, "Not saved yet").is_visible()


def test_the_wait_for_a_photo_is_said_where_it_is_read_out_and_can_be_read(page):
    """While the booth looks for the face, the page says so: in a live region (WCAG 4.1.3),
    and at 4.5:1 or more; it was only the label of the dimmed, busy button (2.4:1), which a
    screen reader does not announce when it changes."""
    page.add_init_script(MARK_LIVE_REGIONS)
    page.route("**/api/photo", lambda route: None)  # held: the page keeps waiting for the answer
    page.goto("/photo")
    page.set_input_files("#photo-input", files=[
        {"name": "selfie.png", "mimeType": "image/png", "buffer": b"any bytes: never answered"}])
    page.click("#photo-submit")
    waiting = read_out(page, "Finding your face")
    assert waiting.evaluate(TEXT_CONTRAST) >= 4.5


# Before the page's scripts: every fetch is counted (by method and path), and one that is
# not a GET (a save, a capture, a delete) is held until window.__letGo(), so a second press
# lands while the first press's request is under way, however slow the machine.
HELD_FETCH = """
(() => {
  const realFetch = window.fetch.bind(window);
  const held = [];
  window.__calls = {};
  window.__letGo = () => held.splice(0).forEach((go) => go());
  window.fetch = async (url, options = {}) => {
    const method = options.method || "GET";
    const key = `${method} ${new URL(url, location.href).pathname}`;
    window.__calls[key] = (window.__calls[key] || 0) + 1;
    if (method !== "GET") await new Promise((resolve) => held.push(resolve));
    return realFetch(url, options);
  };
})();
"""


def press_enter_twice(page, selector: str) -> None:
    """Focus a button and press it twice with the keyboard, the second while the first's
    request is held (HELD_FETCH); then let that request go."""
    page.focus(selector)
    page.keyboard.press("Enter")
    assert page.get_attribute(selector, "aria-disabled") == "true"  # shown as busy ...
    page.keyboard.press("Enter")
    page.evaluate("window.__letGo()")


def focused_id(page) -> str:
    return page.evaluate("document.activeElement.id")


def test_saving_keeps_the_focus_on_save_and_a_second_press_waits(page):
    page.add_init_script(HELD_FETCH)
    page.goto("/look")
    press_enter_twice(page, "#save")
    page.wait_for_selector("#toast:has-text('Saved')")
    assert focused_id(page) == "save"  # ... but never disabled, which drops the focus
    assert page.evaluate("window.__calls['PUT /api/look']") == 1
    assert page.get_attribute("#save", "aria-disabled") is None


def test_capturing_keeps_the_focus_on_the_button(page):
    page.add_init_script(HELD_FETCH)
    page.route("**/api/status", lambda route: route.fulfill(json={"running": True, "expression": "happy"}))
    page.route("**/api/capture", lambda route: route.fulfill(
        status=202, json={"capture": "started", "message": "Countdown started on the kiosk."}))
    page.goto("/live")
    page.wait_for_selector("#capture:not([aria-disabled])")
    press_enter_twice(page, "#capture")
    page.wait_for_selector("#toast:has-text('Countdown started')")
    page.wait_for_selector("#capture:not([aria-disabled])")  # after its pause
    assert focused_id(page) == "capture"
    assert page.evaluate("window.__calls['POST /api/capture']") == 1


def test_a_failed_delete_keeps_the_focus_on_the_button(page, problems, memojis):
    page.add_init_script(HELD_FETCH)
    page.route("**/api/gallery/*", lambda route: route.fulfill(
        status=507, json={"error": "The memory card is full.", "status": 507}))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/gallery/{memojis[-1]}")
    press_enter_twice(page, ".delete-form button")
    page.wait_for_selector("#toast:has-text('memory card is full')")
    assert page.evaluate("document.activeElement.matches('.delete-form button')")
    assert page.evaluate("window.__calls[Object.keys(window.__calls).find((k) => k.startsWith('DELETE'))]") == 1
    problems.clear()  # the refused delete's console line


# Every grid image in view, once loaded: its file's width, the pixels it covers, its address;
# and how far the page jumped while they loaded (Chromium's layout-shift score).
GRID_IMAGES = """
async () => {
  const shown = [...document.querySelectorAll(".tile img")].filter(
    (img) => img.getBoundingClientRect().top < innerHeight);
  await Promise.all(shown.map((img) => img.decode()));
  const jumped = await new Promise((resolve) => {
    new PerformanceObserver((list) => resolve(list.getEntries().reduce((sum, e) => sum + e.value, 0)))
      .observe({ type: "layout-shift", buffered: true });
    setTimeout(() => resolve(0), 500);  // no shift at all: no entries, no call
  });
  return { jumped, images: shown.map((img) => ({ file: img.naturalWidth,
    covers: img.getBoundingClientRect().width * devicePixelRatio,
    src: new URL(img.currentSrc).pathname, link: img.closest("a").pathname })) };
}
"""


@pytest.mark.parametrize("width", [360, 390, 430])
def test_the_grid_shows_thumbnails_sharp_on_a_3x_phone_and_links_the_memoji(open_phone, server,
                                                                              memojis, width):
    from device.gallery import THUMB_PX

    page = open_phone(server, (width, 900), scale=3)
    page.goto("/gallery")
    found = page.evaluate(GRID_IMAGES)
    assert found["images"] and found["jumped"] == 0
    for image, name in zip(found["images"], memojis, strict=False):
        assert image["src"] == f"/gallery/{name}/thumb.png" and image["link"] == f"/gallery/{name}"
        assert image["file"] == THUMB_PX and image["covers"] <= THUMB_PX, image


def open_the_photo_page_answered_with(page, name: str) -> None:
    """The photo page, a photo chosen, and the booth's answer faked: the memoji `name`."""
    memoji = {"name": name, "expression": "surprise", "score": 0.7, "page": f"/gallery/{name}",
              "image": f"/media/{name}", "download": f"/gallery/{name}/download"}
    page.route("**/api/photo", lambda route: route.fulfill(status=201, json=memoji))
    page.goto("/photo")
    page.set_input_files("#photo-input", files=[
        {"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": b"any bytes: the answer is faked"}])


def test_a_made_memoji_takes_the_focus_so_it_is_read_out(page, memojis):
    open_the_photo_page_answered_with(page, memojis[0])
    page.focus("#photo-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#photo-result", state="visible")
    assert focused_id(page) == "result-heading"
    assert page.inner_text("#result-text") == "Surprised · 70% sure"


# Before the page's scripts: requests for a random look wait until the test answers them
# (window.__answer(index, look)), in any order.
HELD_RANDOM = """
(() => {
  const realFetch = window.fetch.bind(window);
  window.__held = [];
  window.fetch = (url, options) => String(url).includes("/api/look/random")
    ? new Promise((resolve) => window.__held.push(resolve))
    : realFetch(url, options);
  window.__answer = ([index, look]) => window.__held[index](new Response(JSON.stringify(look), {
    headers: { "Content-Type": "application/json" } }));
})();
"""


def test_a_late_random_look_never_undoes_a_later_choice(page):
    page.add_init_script(HELD_RANDOM)
    page.goto("/look")
    saved = page.request.get("/api/look").json()
    hair = [option["value"] for field in page.request.get("/api/look/options").json()["fields"]
            if field["name"] == "hair_type" for option in field["options"] if option["value"] != saved["hair_type"]]
    shown = "document.querySelector('select[name=hair_type]').value"

    def answer(index, hair_type):
        page.evaluate("window.__answer", [index, {**saved, "hair_type": hair_type}])
        page.wait_for_timeout(150)  # time for the page to apply it, if it would

    page.click("#random")
    page.click("#random")
    page.wait_for_function("() => window.__held.length === 2")
    page.evaluate("window.__answer", [1, {**saved, "hair_type": hair[1]}])
    page.wait_for_function(f"() => {shown} === {hair[1]!r}")  # the latest tap's look
    answer(0, hair[2])
    assert page.evaluate(shown) == hair[1]  # the first tap's answer came late: dropped

    page.click("#random")
    page.wait_for_function("() => window.__held.length === 3")
    page.select_option("select[name=hair_type]", hair[3])
    answer(2, hair[4])
    assert page.evaluate(shown) == hair[3]  # the guest's own choice after the tap stays


def test_a_preview_that_fails_once_is_loaded_again(page, problems):
    """A moment's failure (the image fails, the booth then draws it): the preview is loaded
    again rather than left as "No preview" until the guest changes something."""
    page.goto("/look")
    wait_for_image(page, "#preview")
    failures = []

    def fail_first_image(route):
        wants_json = "application/json" in (route.request.headers.get("accept") or "")
        if not failures and not wants_json:
            failures.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/preview.png*", fail_first_image)
    page.select_option("select[name=hair_type]", index=3)
    wait_for_image(page, "#preview")
    assert failures and page.is_hidden("#preview-problem")
    assert page.inner_text("#toast") == ""
    page.unroute("**/api/preview.png*")
    problems.clear()


def test_a_preview_the_booth_cannot_send_says_so_and_comes_back_by_itself(page, problems):
    page.goto("/look")
    wait_for_image(page, "#preview")
    page.route("**/api/preview.png*", lambda route: route.abort("internetdisconnected"))
    page.select_option("select[name=hair_type]", index=2)
    page.wait_for_selector("#toast:has-text('The booth cannot be reached')")
    assert page.inner_text("#preview-problem") == "Cannot reach the booth. Trying again…"
    assert page.is_hidden("#preview")  # not its alt text, clipped by the circle
    page.unroute("**/api/preview.png*")
    wait_for_image(page, "#preview")  # the guest changed nothing: tried again by itself
    assert page.is_hidden("#preview-problem")
    problems.clear()  # the failed loads' console lines


def test_a_download_while_the_booth_cannot_be_reached_says_so(page, problems, memojis):
    page.goto(f"/gallery/{memojis[1]}")
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    page.route("**/download", lambda route: route.abort("internetdisconnected"))
    page.click("#download")
    page.wait_for_selector("#toast:has-text('The booth cannot be reached')")
    assert downloads == []
    page.unroute("**/download")
    # deleted meanwhile: the HEAD check's 404 has a JSON type and no body (it showed
    # "Failed to execute 'json' on 'Response'")
    page.route("**/download", lambda route: route.fulfill(
        status=404, content_type="application/json", body=""))
    page.click("#download")
    page.wait_for_selector("#toast:has-text('This memoji is no longer on the booth.')")
    page.unroute("**/download")
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename == memojis[1]
    problems.clear()


def test_enter_on_a_colour_saves_the_look_and_applies_no_preset(page):
    page.goto("/look")
    form = "Object.fromEntries(new FormData(document.getElementById('look-form')))"
    before = page.evaluate(form)
    page.focus('input[name="hair_color"]:checked')
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast:has-text('Saved')")
    assert page.evaluate(form) == before


def test_the_expression_chips_are_one_radio_group_for_the_keyboard(page):
    page.goto("/look")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('.chip')"):
            break
    chosen = "document.activeElement.dataset.expression"
    assert page.evaluate(chosen) == "happy"  # Tab lands on the chosen chip, not the first
    for key, expected in [("ArrowRight", "sad"), ("ArrowDown", "surprise"), ("ArrowLeft", "sad"),
                          ("End", "neutral"), ("ArrowRight", "angry"), ("ArrowUp", "neutral"),
                          ("Home", "angry")]:
        page.keyboard.press(key)
        assert page.evaluate(chosen) == expected, key
        assert page.get_attribute(f'.chip[data-expression="{expected}"]', "aria-checked") == "true"
        assert page.locator('.chip[aria-checked="true"]').count() == 1
    page.wait_for_function("() => document.querySelector('#preview').src.includes('expression=angry')")
    page.keyboard.press("Tab")  # one Tab leaves the group
    assert not page.evaluate("document.activeElement.matches('.chip')")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(chosen) == "angry"


def log_in(page) -> None:
    page.goto("/login")
    page.fill('input[name="pin"]', PIN)
    page.click("button[type=submit]")
    page.wait_for_url("**/look")


def _face_photo(fer_faces) -> bytes:
    from tests.fer_frames import make_frame

    frame = make_frame(fer_faces["happy"][0], face_px=280)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    assert ok
    return jpeg.tobytes()


def _analyser_or_skip() -> None:
    from device.infer import ModelMissingError
    from device.pipeline import Analyser

    try:
        Analyser.from_config(make_config(ARTIFACTS))
    except ModelMissingError as error:
        pytest.skip(f"photo upload needs the shipped models: {error}")


def test_upload_a_face_photo_get_a_memoji_and_download_it_from_the_gallery(page, tmp_path,
                                                                           fer_faces):
    _analyser_or_skip()
    page.goto("/photo")
    page.set_input_files("#photo-input", files=[
        {"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": _face_photo(fer_faces)}])
    assert page.inner_text("#file-name") == "selfie.jpg"
    page.click("#photo-submit")
    page.wait_for_selector("#photo-result", state="visible")
    wait_for_image(page, "#result-image")
    assert page.is_hidden("#photo-error")
    assert "sure" in page.inner_text("#result-text")
    assert page.evaluate(LAYOUT_PROBLEMS) == []  # the result's links too
    screenshot(page, "photo")

    page.click("#result-page")
    page.wait_for_url("**/gallery/memoji-*.png")
    wait_for_image(page, ".entry-image")
    screenshot(page, "gallery-entry")
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename.startswith("memoji-") and saved.read_bytes().startswith(b"\x89PNG")

    page.goto("/gallery")
    wait_for_image(page, ".tile img")
    assert page.locator(".tile").count() >= 1
    screenshot(page, "gallery")


def test_uploading_something_that_is_not_a_photo_shows_a_clear_error(page, problems):
    page.goto("/photo")
    page.set_input_files("#photo-input", files=[
        {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"these are not pixels"}])
    page.click("#photo-submit")
    page.wait_for_selector("#photo-error", state="visible")
    assert "not an image" in page.inner_text("#photo-error")
    assert problems == ["console error: Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    problems.clear()


def test_a_photo_over_the_limit_is_refused_in_the_phone_before_sending(page):
    """waitress refuses such a body before reading it, with no page to show: say so first."""
    page.goto("/photo")
    too_big = b"\xff" * (10 * 1024 * 1024 + 1)  # nothing a browser can decode, so sent as is
    page.set_input_files("#photo-input", files=[
        {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": too_big}])
    page.click("#photo-submit")
    page.wait_for_selector("#photo-error", state="visible")
    assert "too large (10.0 MB); the booth takes up to 10 MB" in page.inner_text("#photo-error")
    assert page.is_enabled("#photo-submit")


def _saved_memoji(data_dir: Path) -> str:
    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    gallery = Gallery(data_dir / "gallery", keep=100)
    return gallery.save(render_png(DEFAULT_LOOK, "sad", 128), expression="sad", score=0.7,
                        look=DEFAULT_LOOK).name


def test_declining_the_delete_question_keeps_the_memoji(page, data_dir):
    name = _saved_memoji(data_dir)
    page.goto(f"/gallery/{name}")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.click(".delete-form button")
    page.wait_for_timeout(500)  # a request sent despite the "no" would have landed by now
    assert questions == ["Delete this memoji for good?"]
    assert page.url.endswith(f"/gallery/{name}")
    assert (data_dir / "gallery" / name).exists()

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.click(".delete-form button")
    page.wait_for_url("**/gallery?deleted=1")
    assert page.get_by_role("status").filter(has_text="Memoji deleted.").is_visible()  # said, and read out
    assert not (data_dir / "gallery" / name).exists()


@pytest.mark.parametrize("viewport, text_percent", [((390, 844), 100), ((320, 568), 200)],
                         ids=["390x844", "320x568-text200"])
def test_the_operator_deletes_every_memoji_at_the_end_of_an_event(open_phone, problems, tmp_path,
                                                                 viewport, text_percent):
    """Two deliberate steps: "Delete all…" in the gallery, then the number of memojis typed
    on a page of its own; an empty field or a wrong number deletes nothing."""
    import numpy as np

    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    data = tmp_path / "data"
    gallery = Gallery(data / "gallery", keep=100)
    for photo in (None, np.zeros((8, 8, 3), np.uint8), None):
        gallery.save(render_png(DEFAULT_LOOK, "sad", 128), expression="sad", score=0.7,
                     look=DEFAULT_LOOK, photo=photo)
    handle = _serve(data, web_pin=PIN)
    page = open_phone(handle, viewport, text_percent)
    try:
        log_in(page)
        page.goto("/gallery")
        page.get_by_role("link", name="Delete all…").click()
        page.wait_for_url("**/gallery/delete-all")
        assert page.evaluate(LAYOUT_PROBLEMS) == []
        assert page.locator("h1").inner_text() == "Delete all 3 memojis?"
        assert "the 1 camera photo kept with them" in page.locator(".delete-all").inner_text()
        button = page.get_by_role("button", name="Delete all 3")
        button.click()  # nothing typed: the phone asks for the number, sends nothing
        assert page.evaluate("document.querySelector('input[name=confirm]').validity.valueMissing")
        assert page.url.endswith("/gallery/delete-all") and len(gallery.names()) == 3
        page.get_by_label("To confirm, type the number of memojis: 3").fill("2")
        button.click()
        page.get_by_role("alert").filter(has_text="That is not 3: nothing was deleted.").wait_for()
        problems.remove("console error: Failed to load resource: the server responded with a status "
                        "of 400 (BAD REQUEST)")
        assert len(gallery.names()) == 3
        page.get_by_label("To confirm, type the number of memojis: 3").fill("3")
        page.get_by_role("button", name="Delete all 3").click()
        page.wait_for_url("**/gallery?erased=3")
        assert page.get_by_role("status").filter(has_text="Deleted 3 memojis.").is_visible()
        assert [p for p in (data / "gallery").rglob("*") if p.is_file()] == []
    finally:
        page.close()  # first: a request still under way (the icon) failed when the server went
        handle.close()


# Stands in for the booth at work on the first tap: counts the forms the page lets go, and
# keeps the page where it is (the last listener, after the page's own).
HOLD_SENT_FORMS = """() => {
  window.sentForms = 0;
  window.addEventListener("submit", (event) => { window.sentForms += 1; event.preventDefault(); });
}"""


def test_a_second_tap_on_delete_all_while_the_booth_works_sends_nothing(open_phone, tmp_path):
    """A second tap sent the form again; the browser showed that second answer: "Deleted 0
    memojis", after the first had deleted them all. Back on the page as the browser kept it
    (the back-forward cache, which Playwright's Chromium leaves off: its pageshow), the
    button works again; and on a page that stayed (the form held here, as when the operator
    answers "stay" to "leave site?"), after the booth's request time, not never."""
    from device.avatar import DEFAULT_LOOK, render_png
    from device.gallery import Gallery

    data = tmp_path / "data"
    Gallery(data / "gallery", keep=100).save(render_png(DEFAULT_LOOK, "sad", 128), expression="sad",
                                             score=0.7, look=DEFAULT_LOOK)
    handle = _serve(data, web_pin=PIN)
    page = open_phone(handle)
    try:
        log_in(page)
        page.clock.install()
        page.goto("/gallery/delete-all")
        page.get_by_label("To confirm, type the number of memojis: 1").fill("1")
        page.evaluate(HOLD_SENT_FORMS)
        button = page.get_by_role("button", name="Delete all 1")
        button.click()
        button.click(force=True)  # a finger taps what Playwright would wait on
        assert page.evaluate("window.sentForms") == 1
        assert button.get_attribute("aria-disabled") == "true"
        page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))")
        assert button.get_attribute("aria-disabled") is None
        button.click()  # held again, and the page stays: it is not dead for good
        assert page.evaluate("window.sentForms") == 2
        assert button.get_attribute("aria-disabled") == "true"
        page.clock.run_for(page.evaluate("Booth.TIMEOUT_MS") - 1000)
        assert button.get_attribute("aria-disabled") == "true"
        page.clock.run_for(1000)
        assert button.get_attribute("aria-disabled") is None
        button.click()
        assert page.evaluate("window.sentForms") == 3
    finally:
        page.close()
        handle.close()


def test_edits_survive_the_login_that_saving_them_asks_for(browser, pin_server):
    context = browser.new_context(base_url=pin_server.url, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    leave_questions = []
    page.on("dialog", lambda dialog: (leave_questions.append(dialog.type), dialog.accept()))
    page.goto("/look")
    page.click('label.swatch:has(input[name="hair_color"][value="BLACK"])')
    page.click("#save")
    page.wait_for_url("**/login?next=%2Flook")
    assert leave_questions == []  # no "leave site?": the edits are kept for after the login
    page.fill('input[name="pin"]', PIN)
    page.click("button[type=submit]")
    page.wait_for_url("**/look")
    page.wait_for_selector("#toast:has-text('Your changes are back')")
    assert page.is_checked('input[name="hair_color"][value="BLACK"]')
    assert page.is_visible("#dirty")  # not saved until the operator presses Save
    page.click("#save")
    page.wait_for_selector("#toast:has-text('Saved')")
    assert page.request.get("/api/look").json()["hair_color"] == "BLACK"
    context.close()


def test_the_live_page_follows_a_kiosk_that_starts_after_it_opened(page):
    running = {"value": False}

    def status(route):
        body = ({"running": True, "state": "live", "expression": "fear", "fps": 30,
                 "camera": "picamera2", "scores": {"fear": 0.9}} if running["value"]
                else {"running": False, "message": "not running"})
        route.fulfill(json=body)

    page.route("**/api/status", status)
    page.goto("/live")
    assert page.get_attribute("#capture", "aria-disabled") == "true" and page.is_visible("#not-running")
    running["value"] = True
    page.wait_for_selector("#capture:not([aria-disabled])")
    assert page.is_hidden("#not-running")
    assert page.inner_text("#expression") == "Scared"  # the kiosk screen's word for fear
    assert page.inner_text("#meta") == "Live · 30 fps · picamera2"  # words, not "live"
    running["value"] = False
    page.wait_for_selector("#capture[aria-disabled=true]")
    assert page.is_visible("#not-running")


def test_the_live_page_tells_the_operator_what_is_wrong_with_the_pi_while_it_is(page):
    from device.health import POWER_ADVICE

    warnings = {"value": [f"Under-voltage: the power supply cannot hold the Pi's voltage. {POWER_ADVICE}.",
                          "The processor is at 83 °C: from 80 °C the Pi slows it."]}

    def status(route):
        route.fulfill(json={"running": True, "state": "live", "expression": "happy", "fps": 30,
                            "scores": {"happy": 0.9},
                            "health": {"under_voltage": True, "warnings": warnings["value"]}})

    page.route("**/api/status", status)
    page.goto("/live")
    page.wait_for_selector("#health-notice p >> nth=1")
    assert page.locator("#health-notice p").all_inner_texts() == warnings["value"]
    assert page.get_attribute("#health-notice", "role") == "status"  # read out when it comes
    screenshot(page, "live-health")
    warnings["value"] = []
    page.wait_for_selector("#health-notice", state="hidden")


def test_the_health_notice_is_left_alone_while_its_words_stay_the_same(page):
    """It is a live region (role=status): rebuilt at every poll, twice a second, a screen
    reader read the same warnings out again and again."""
    warning = "The processor is at 83 °C: from 80 °C the Pi slows it."
    page.add_init_script("""
        window.__polls = 0;
        const fetched = window.fetch;
        window.fetch = (...args) => fetched(...args).then((reply) => {
          if (String(args[0]).includes("/api/status")) window.__polls += 1;
          return reply;
        });
    """)
    page.route("**/api/status", lambda route: route.fulfill(json={
        "running": True, "state": "live", "health": {"warnings": [warning]}}))
    page.goto("/live")
    page.wait_for_selector("#health-notice p")
    page.evaluate("""() => {
        window.__changes = 0;
        window.__from = window.__polls;
        new MutationObserver((seen) => { window.__changes += seen.length; })
          .observe(document.getElementById("health-notice"),
                   {childList: true, subtree: true, characterData: true, attributes: true});
    }""")
    page.wait_for_function("() => window.__polls >= window.__from + 3")
    assert page.evaluate("() => window.__changes") == 0
    assert page.locator("#health-notice p").all_inner_texts() == [warning]


def test_the_live_page_says_the_kiosk_is_elsewhere_and_disables_capture(page):
    page.goto("/live")
    page.wait_for_selector("#meta:has-text('not running')")
    assert page.get_attribute("#capture", "aria-disabled") == "true"
    page.click("#capture", force=True)  # the press is ignored: no request, no message
    page.wait_for_timeout(300)
    assert page.inner_text("#toast") == ""
    screenshot(page, "live")


# Before the page's scripts: document.visibilityState follows window.__hidden, and every
# /api/status fetch is timed and held for STATUS_DELAY_MS, so a visibility change can land
# while a poll is in flight (where a second loop used to start).
STATUS_DELAY_MS = 300
POLL_MS = 500  # live.js
VISIBILITY_STUB = """
(() => {
  window.__hidden = false;
  window.__statusStarts = [];
  window.__statusInFlight = 0;
  Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__hidden });
  Object.defineProperty(document, "visibilityState", {
    configurable: true, get: () => (window.__hidden ? "hidden" : "visible") });
  window.__setHidden = (hidden) => {
    window.__hidden = hidden;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  const realFetch = window.fetch.bind(window);
  window.fetch = async (url, options) => {
    if (!String(url).includes("/api/status")) return realFetch(url, options);
    window.__statusStarts.push(performance.now());
    window.__statusInFlight += 1;
    try {
      const response = await realFetch(url, options);
      await new Promise((resolve) => setTimeout(resolve, STATUS_DELAY_MS));
      return response;
    } finally {
      window.__statusInFlight -= 1;
    }
  };
})();
""".replace("STATUS_DELAY_MS", str(STATUS_DELAY_MS))


def _status_starts(page) -> list[float]:
    return page.evaluate("window.__statusStarts.slice()")


def _assert_one_loop(starts: list[float]) -> None:
    """Two loops would start polls less than STATUS_DELAY_MS apart; one never starts them closer than POLL_MS."""
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps and min(gaps) >= POLL_MS - 20, f"polls started {gaps} ms apart: more than one loop"


def test_the_live_page_polls_in_one_loop_pausing_while_hidden(page):
    page.add_init_script(VISIBILITY_STUB)
    page.goto("/live")
    page.wait_for_function("() => window.__statusInFlight > 0")
    page.evaluate("[true, false, true, false].forEach((hidden) => window.__setHidden(hidden))")
    flipped = len(_status_starts(page))
    page.wait_for_function(f"() => window.__statusStarts.length >= {flipped + 3}")  # still polling
    after_flips = _status_starts(page)[flipped - 1:]
    _assert_one_loop(after_flips)

    page.evaluate("window.__setHidden(true)")
    page.wait_for_function("() => window.__statusInFlight === 0")
    hidden_at = len(_status_starts(page))
    page.wait_for_timeout(3 * POLL_MS)
    assert len(_status_starts(page)) == hidden_at  # paused while hidden

    page.evaluate("window.__setHidden(false); window.__setHidden(false)")
    page.wait_for_function(f"() => window.__statusStarts.length > {hidden_at}")  # at once, not after a timer
    page.wait_for_function(f"() => window.__statusStarts.length >= {hidden_at + 4}")
    resumed = _status_starts(page)[hidden_at:]
    _assert_one_loop(resumed)


LOOK_SHOWN = """() => ({
  accessory: document.querySelector('select[name=accessory]').value,
  preview: new URL(document.getElementById('preview').src).searchParams.get('accessory'),
  notSaved: !document.getElementById('dirty').hidden })"""


def test_back_to_the_look_page_shows_the_choices_the_browser_brought_back(page):
    """Going back to the Look page, the browser refills the form with the guest's unsaved
    choices after the page's script ran: the preview and "Not saved yet" must follow them,
    or Save keeps a look the guest never saw."""
    page.on("dialog", lambda dialog: dialog.accept())  # "leave site?": yes
    page.goto("/look")
    glasses = page.evaluate("[...document.querySelector('select[name=accessory]').options].map((o) => o.value)")
    saved = page.request.get("/api/look").json()["accessory"]
    chosen = next(value for value in glasses if value != saved)
    page.select_option("select[name=accessory]", chosen)
    page.click(".tabs a[href='/gallery']")
    page.wait_for_url("**/gallery")
    page.go_back()
    page.wait_for_url("**/look")
    page.wait_for_load_state("load")
    assert page.evaluate(LOOK_SHOWN) == {"accessory": chosen, "preview": chosen, "notSaved": True}


# Every control of the Look page that cannot be brought into view and tapped: scrolled to as
# a tap would, something else (a bar that stays in place) is at its middle, or nothing is.
UNREACHABLE_CONTROLS = r"""
() => [...document.querySelectorAll(".chip, [data-preset], #random, select, .swatch .dot, #save")]
  .filter((el) => {
    el.scrollIntoView({ block: "nearest" });
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return !hit || !(el.closest(".swatch") || el).contains(hit);  // a swatch's hidden radio is on its dot
  })
  .map((el) => el.dataset.expression || el.name || el.dataset.swatch || el.id || el.textContent.trim())
"""


@pytest.mark.parametrize("viewport", [(915, 412), (844, 390)], ids=["915x412", "844x390"])
def test_a_large_phone_on_its_side_reaches_every_look_control(open_phone, server, viewport):
    """Wide enough for the preview beside the choices, but low: the preview card must not
    stay in place taller than the screen, hiding its expression chips below it for good."""
    page = open_phone(server, viewport)
    page.goto("/look")
    assert page.evaluate(UNREACHABLE_CONTROLS) == []


# Before the page's scripts: remember how each scrollIntoView was asked to scroll.
RECORD_SCROLLS = """
window.__scrolls = [];
Element.prototype.scrollIntoView = function (options) { window.__scrolls.push(options?.behavior || "auto"); };
"""
# What still moves: running animations, and transitions longer than a frame.
MOVING = """
() => [...document.getAnimations().map((a) => `animation ${a.animationName || a.constructor.name}`),
       ...[...document.querySelectorAll("*")].filter((el) =>
          getComputedStyle(el).transitionDuration.split(",").some((d) => parseFloat(d) > 0.02))
        .map((el) => `transition on ${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`)]
"""


def test_nothing_moves_on_a_phone_set_to_reduce_motion(browser, server, memojis):
    """The phone's "reduce motion" setting (WCAG 2.3.3): no spinning, sliding or smooth scrolling."""
    context = browser.new_context(base_url=server.url, reduced_motion="reduce", **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(RECORD_SCROLLS)
    page.goto("/look")
    page.evaluate("document.querySelector('.preview-frame').classList.add('loading')")  # the spinner shows
    assert page.evaluate(MOVING) == []
    page.goto("/live")
    assert page.evaluate(MOVING) == []

    open_the_photo_page_answered_with(page, memojis[0])
    page.click("#photo-submit")
    page.wait_for_selector("#photo-result", state="visible")
    assert page.evaluate("window.__scrolls") == ["auto"]
    context.close()
