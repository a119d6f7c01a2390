"""Looks, the expression map, rendering, and the off-thread cache of the seven memojis."""

import itertools
import random
import re
import threading
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import python_avatars as pa

from device import avatar
from device.avatar import (
    DEFAULT_LOOK,
    EXPRESSION_PARTS,
    LOOK_CHOICES,
    OWN_COLOUR_CLOTHING,
    PRESET_FIELDS,
    PRESETS,
    AvatarCache,
    Look,
    LookError,
    MemojiStore,
    apply_preset,
    render_png,
    render_rgba,
    render_svg,
)
from device.labels import EXPRESSIONS

SIZE = 96  # small and fast; full-size timing: `python -m device.avatar`


def test_choices_offer_every_python_avatars_member():
    enums = {
        "skin_color": pa.SkinColor,
        "hair_type": pa.HairType,
        "hair_color": pa.HairColor,
        "clothing_type": pa.ClothingType,
        "clothing_color": pa.ClothingColor,
        "facial_hair": pa.FacialHairType,
        "accessory": pa.AccessoryType,
    }
    assert set(LOOK_CHOICES) == {f.name for f in Look.__dataclass_fields__.values()} == set(enums)
    for field, enum in enums.items():
        expected = {m.name for m in enum} - ({"NONE"} if enum is pa.ClothingType else set())
        assert set(LOOK_CHOICES[field]) == expected, field


def test_each_choice_is_named_in_words_a_guest_reads():
    """The page showed python-avatars' spelling, "Beard magestic", and "Blue 01"."""
    labels = {value: avatar.choice_label(value) for values in LOOK_CHOICES.values()
              for value in values}
    assert labels["BEARD_MAGESTIC"] == "Beard majestic"
    assert labels["MIA_WALLACE"] == "Mia Wallace"
    assert labels["BLUE_01"] == "Blue 1" and labels["GRAY_02"] == "Gray 2"
    assert labels["LONG_NOT_TOO_LONG"] == "Long not too long"
    for value, label in labels.items():
        assert "_" not in label and not re.search(r"\b0\d", label), (value, label)
    assert len(set(labels.values())) == len(labels)  # no two choices read alike


def test_presets_differ_as_designed():
    female, male = PRESETS["female"], PRESETS["male"]
    assert female.facial_hair == "NONE" and "LONG" in female.hair_type
    assert male.hair_type.startswith("SHORT") and male.facial_hair != "NONE"
    assert DEFAULT_LOOK == Look()


def test_a_preset_styles_the_look_and_keeps_what_belongs_to_the_guest():
    guest = Look(skin_color="DARK_BROWN", hair_color="RED", accessory="ROUND", facial_hair="MOUSTACHE_FANCY")
    for name, preset in PRESETS.items():
        styled = apply_preset(guest, name)
        assert {f: getattr(styled, f) for f in PRESET_FIELDS} == {f: getattr(preset, f) for f in PRESET_FIELDS}
        assert (styled.skin_color, styled.hair_color, styled.accessory) == ("DARK_BROWN", "RED", "ROUND")
    with pytest.raises(KeyError):
        apply_preset(guest, "robot")


def changed_pixels(a: Look, b: Look, size: int = 128) -> int:
    first = render_rgba(a, "happy", size).astype(int)
    second = render_rgba(b, "happy", size).astype(int)
    return int((np.abs(first - second).max(axis=2) > 30).sum())


def test_every_hair_style_takes_the_hair_colour():
    """Some drawings fix their hair's fill where python-avatars does not reach (SHAVED_SIDES,
    STRAIGHT_2): the chosen colour must show on every style that has hair."""
    ignored = [hair for hair in LOOK_CHOICES["hair_type"] if hair != "NONE"
               and changed_pixels(Look(hair_type=hair, hair_color="RED"),
                                  Look(hair_type=hair, hair_color="BLACK")) < 50]
    assert ignored == []


def test_tall_hair_is_not_cut_off_at_the_top():
    """Spikes, braids and big hair reach above python-avatars' 264x280 drawing; only the
    bride's bun is taller than the room the view box leaves."""
    cut = [hair for hair in LOOK_CHOICES["hair_type"] if hair != "BRIDE"
           and render_rgba(Look(hair_type=hair), "surprise", 128)[0, :, 3].max() > 0]
    assert cut == []


def test_every_beard_takes_the_hair_colour():
    """The Wick beard's drawing uses its colour mask before defining it, which cairosvg
    ignores unless the masks are moved first: it stayed white whatever the colour."""
    ignored = [beard for beard in LOOK_CHOICES["facial_hair"] if beard != "NONE"
               and changed_pixels(Look(hair_type="NONE", facial_hair=beard, hair_color="RED"),
                                  Look(hair_type="NONE", facial_hair=beard, hair_color="BLACK"))
               < 100]
    assert ignored == []


def test_clothes_take_the_clothing_colour_except_those_drawn_in_their_own():
    ignored = [clothing for clothing in LOOK_CHOICES["clothing_type"]
               if changed_pixels(Look(clothing_type=clothing, clothing_color="RED"),
                                 Look(clothing_type=clothing, clothing_color="BLACK")) < 50]
    assert ignored == list(OWN_COLOUR_CLOTHING)  # the editor says so under the colours


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_expression_reads_on_the_darkest_skins(expression):
    """Eyes, eyebrows and mouth are see-through black in python-avatars: on BLACK skin the
    darkest pixel of a bald, beardless face was 40% of the skin; drawn opaque it is black.
    Lighter skins keep the design's softer features."""
    def darkest(skin: str) -> int:
        image = render_rgba(Look(skin_color=skin, hair_type="NONE"), expression, 264)
        return int(image[..., :3].max(axis=2)[image[..., 3] == 255].min())

    assert darkest("BLACK") <= 8 and darkest("DARK_BROWN") <= 8
    assert darkest("LIGHT") >= 30

    def opacities(skin: str) -> dict[str, set[str]]:
        root = ET.fromstring(render_svg(Look(skin_color=skin), expression))
        found = {}
        for feature in ("Eyes", "Eyebrow", "Mouth"):  # each one, not only the darkest pixel
            group = next(e for e in root.iter() if e.get("id") == f"transparent_{feature}")
            found[feature] = {e.get("fill-opacity") for e in group.iter() if e.get("fill-opacity")}
        return found

    assert all(values == {"1"} for values in opacities("BLACK").values())
    assert all(values and "1" not in values for values in opacities("LIGHT").values())


def test_from_dict_round_trip_partial_and_case():
    look = Look.random(random.Random(3))
    assert Look.from_dict(look.to_dict()) == look
    assert Look.from_dict({"hair_color": "red"}, base=look) == look.replace(hair_color="RED")
    assert Look.from_dict({}) == DEFAULT_LOOK


@pytest.mark.parametrize(
    "data, field",
    [
        ({"hat": "HAT"}, "hat"),
        ({"hair_type": "MULLET_DELUXE"}, "hair_type"),
        ({"clothing_type": "NONE"}, "clothing_type"),
        ({"skin_color": 3}, "skin_color"),
    ],
)
def test_from_dict_names_the_bad_field(data, field):
    with pytest.raises(LookError) as caught:
        Look.from_dict(data)
    assert caught.value.field == field and field in str(caught.value)


def test_constructor_validates_too():
    with pytest.raises(LookError):
        Look(accessory="MONOCLE")


def test_random_is_valid_and_seedable():
    assert Look.random(random.Random(7)) == Look.random(random.Random(7))
    looks = {Look.random(random.Random(seed)) for seed in range(20)}
    assert len(looks) > 15


def test_expression_parts_are_distinct_for_all_seven():
    assert set(EXPRESSION_PARTS) == set(EXPRESSIONS)
    triples = list(EXPRESSION_PARTS.values())
    assert len(set(triples)) == 7
    assert len({mouth for _, _, mouth in triples}) == 7  # the mouth alone tells them apart


def test_svg_is_deterministic_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    look = PRESETS["male"]
    first = render_svg(look, "happy")
    assert first == render_svg(look, "happy")
    assert first.startswith("<svg") and "smile_Mouth" in first
    assert render_png(look, "sad", SIZE) == render_png(look, "sad", SIZE)
    assert list(tmp_path.iterdir()) == []


def test_unknown_expression_is_rejected():
    with pytest.raises(ValueError, match="contempt"):
        render_svg(DEFAULT_LOOK, "contempt")


@pytest.mark.parametrize("field", list(LOOK_CHOICES))
def test_every_choice_reaches_the_svg(field):
    """Each value changes the drawing (colours and parts alike), so no option is silently ignored."""
    base = Look(hair_type="SHORT_FLAT", facial_hair="BEARD_LIGHT", accessory="ROUND")
    seen = {}
    for value in LOOK_CHOICES[field]:
        seen.setdefault(render_svg(base.replace(**{field: value}), "neutral"), value)
    assert len(seen) == len(LOOK_CHOICES[field])


@pytest.mark.parametrize("hair", ["LOOSE_HAIR", "LONG_HAIR_CURLY", "CURLY_2", "ASTRONAUT"])
def test_facial_hair_and_glasses_show_with_every_hair_style(hair):
    svg = render_svg(
        Look(hair_type=hair, facial_hair="BEARD_MEDIUM", accessory="SUNGLASSES"), "happy"
    )
    assert "beard_medium_" in svg and "sunglasses_" in svg


def test_rgba_image_shape_and_transparency():
    image = render_rgba(DEFAULT_LOOK, "neutral", SIZE)
    assert image.shape == (SIZE, SIZE, 4) and image.dtype == np.uint8
    assert image[0, 0, 3] == 0  # transparent background
    assert image[SIZE // 2, SIZE // 2, 3] == 255  # the face is opaque
    assert render_png(DEFAULT_LOOK, "neutral", 300).startswith(b"\x89PNG")


def test_small_images_have_no_mask_artefact():
    """Below ~200 px cairosvg draws the shirt's grey base colour outside its mask."""
    image = render_rgba(PRESETS["female"], "happy", 64)
    grey = (
        (image[..., 0] == 230)
        & (image[..., 1] == 230)
        & (image[..., 2] == 230)
        & (image[..., 3] > 200)
    )
    assert grey.sum() < 5


@pytest.mark.parametrize("look", [PRESETS["female"], PRESETS["male"]], ids=["female", "male"])
def test_the_seven_memojis_look_different(look):
    images = {e: render_rgba(look, e, SIZE).astype(np.int16) for e in EXPRESSIONS}
    for a, b in itertools.combinations(EXPRESSIONS, 2):
        changed = (np.abs(images[a] - images[b]).max(axis=2) > 40).mean()
        assert changed > 0.005, f"{a} and {b} differ in only {changed:.2%} of pixels"


# ---------------------------------------------------------------- the cache


def test_cache_renders_all_seven_off_the_caller_thread(monkeypatch):
    threads = set()
    real = avatar.render_rgba

    def spy(look, expression, size):
        threads.add(threading.current_thread())
        return real(look, expression, size)

    monkeypatch.setattr(avatar, "render_rgba", spy)
    cache = AvatarCache(SIZE)
    try:
        assert cache.get("happy") is None and cache.version == 0 and cache.look is None
        cache.set_look(PRESETS["female"])
        assert cache.wait_ready(timeout=20)
        assert cache.version == 1 and cache.look == PRESETS["female"]
        for expression in EXPRESSIONS:
            image = cache.get(expression)
            assert image.shape == (SIZE, SIZE, 4) and not image.flags.writeable
        assert threads and threading.current_thread() not in threads and len(threads) == 1
    finally:
        cache.close()


class GatedRenderer:
    """Stands in for render_rgba: each image waits for the test to let it through."""

    def __init__(self):
        self.gate = threading.Semaphore(0)
        self.calls = []
        self.called = threading.Event()

    def __call__(self, look, expression, size):
        self.calls.append((look, expression))
        self.called.set()
        assert self.gate.acquire(timeout=10)
        value = EXPRESSIONS.index(expression) + 10 * len(self.calls)
        return np.full((size, size, 4), value % 256, np.uint8)


def test_previous_set_is_served_until_the_new_one_is_complete(monkeypatch):
    fake = GatedRenderer()
    monkeypatch.setattr(avatar, "render_rgba", fake)
    cache = AvatarCache(8)
    try:
        cache.set_look(PRESETS["female"])
        for _ in EXPRESSIONS:
            fake.gate.release()
        assert cache.wait_ready(timeout=10) and cache.version == 1
        old = cache.get("happy")
        cache.set_look(PRESETS["male"])
        for _ in range(3):
            fake.gate.release()
        assert not cache.wait_ready(timeout=0.2)  # still rendering the male set
        assert cache.version == 1 and cache.look == PRESETS["female"] and cache.get("happy") is old
        for _ in range(4):
            fake.gate.release()
        assert cache.wait_ready(timeout=10)
        assert (
            cache.version == 2 and cache.look == PRESETS["male"] and cache.get("happy") is not old
        )
    finally:
        cache.close()


def test_latest_look_wins(monkeypatch):
    fake = GatedRenderer()
    monkeypatch.setattr(avatar, "render_rgba", fake)
    cache = AvatarCache(8)
    looks = [Look(hair_color=c) for c in ("RED", "BLACK", "AUBURN", "PLATINUM")]
    try:
        cache.set_look(looks[0])
        assert fake.called.wait(timeout=10)  # the worker is inside the first look's first image
        for look in looks[1:]:
            cache.set_look(look)
        for _ in range(20):
            fake.gate.release()
        assert cache.wait_ready(timeout=10)
        assert cache.look == looks[-1] and cache.version == 1  # looks[0] was abandoned
        rendered = [look for look, _ in fake.calls]
        assert rendered.count(looks[0]) == 1
        assert (
            looks[1] not in rendered and looks[2] not in rendered
        )  # superseded before they started
        assert rendered.count(looks[-1]) == 7
    finally:
        cache.close()


def test_render_failure_keeps_the_previous_set(monkeypatch, caplog):
    cache = AvatarCache(SIZE, look=DEFAULT_LOOK)
    try:
        assert cache.wait_ready(timeout=20)
        before = cache.get("sad")

        def broken(look, expression, size):
            raise RuntimeError("cairo exploded")

        monkeypatch.setattr(avatar, "render_rgba", broken)
        cache.set_look(PRESETS["male"])
        assert cache.wait_ready(timeout=10)
        assert cache.version == 1 and cache.look == DEFAULT_LOOK and cache.get("sad") is before
        assert "cairo exploded" in caplog.text
    finally:
        cache.close()


# ------------------------------------------------------------------ the memojis kept on disk


class CountingRenderer:
    """render_rgba, counting the memojis it draws."""

    def __init__(self):
        self.drawn = 0

    def __call__(self, look, expression, size):
        self.drawn += 1
        return render_rgba(look, expression, size)


def ready_set(look, store, size=SIZE):
    cache = AvatarCache(size, look=look, store=store)
    try:
        assert cache.wait_ready(timeout=20)  # drawn (or read) and kept in the store
        return {expression: cache.get(expression) for expression in EXPRESSIONS}
    finally:
        cache.close()


class HeldStore(MemojiStore):
    """A store on a card so slow that it writes only when the test lets it."""

    def __init__(self, folder):
        super().__init__(folder)
        self.keeping, self.let_go = threading.Event(), threading.Event()

    def keep_only(self, images):
        self.keeping.set()
        assert self.let_go.wait(timeout=30)
        super().keep_only(images)


def test_ready_means_the_set_is_kept_too_though_it_shows_before(tmp_path):
    """What looks at the folder after wait_ready (the tests, a bench) finds all seven: the
    worker was idle once the set showed, and wrote it after, while they looked."""
    store = HeldStore(tmp_path)
    cache = AvatarCache(SIZE, look=DEFAULT_LOOK, store=store)
    try:
        assert store.keeping.wait(timeout=60)
        assert cache.version == 1 and cache.get("happy") is not None  # shown, not kept yet
        assert not cache.wait_ready(timeout=0.2)
        store.let_go.set()
        assert cache.wait_ready(timeout=60)
        assert len(list(tmp_path.glob("*.png"))) == 7
    finally:
        store.let_go.set()
        cache.close()


def test_a_restart_reads_the_memojis_kept_instead_of_drawing_them(tmp_path, monkeypatch):
    counting = CountingRenderer()
    monkeypatch.setattr(avatar, "render_rgba", counting)
    first = ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))
    assert counting.drawn == 7 and len(list(tmp_path.glob("*.png"))) == 7
    again = ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))  # as after a restart
    assert counting.drawn == 7  # none drawn again
    for expression in EXPRESSIONS:
        assert np.array_equal(again[expression], first[expression])
        assert not again[expression].flags.writeable


def test_a_new_look_or_size_is_drawn_and_replaces_the_kept_set(tmp_path, monkeypatch):
    counting = CountingRenderer()
    monkeypatch.setattr(avatar, "render_rgba", counting)
    ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))
    male = ready_set(PRESETS["male"], MemojiStore(tmp_path))
    assert counting.drawn == 14 and len(list(tmp_path.glob("*.png"))) == 7  # the old set went
    assert np.array_equal(male["sad"], render_rgba(PRESETS["male"], "sad", SIZE))
    bigger = ready_set(PRESETS["male"], MemojiStore(tmp_path), size=SIZE + 8)  # another screen
    assert counting.drawn == 21 and bigger["sad"].shape == (SIZE + 8, SIZE + 8, 4)


@pytest.mark.parametrize("kept", [100, 0], ids=["its-end-lost", "empty"])
def test_a_damaged_kept_memoji_is_drawn_again(tmp_path, monkeypatch, kept):
    """A card that lost the file's end, or all of it (a power cut can leave 0 bytes)."""
    ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))
    damaged = sorted(tmp_path.glob("*.png"))[0]
    damaged.write_bytes(damaged.read_bytes()[:kept])
    counting = CountingRenderer()
    monkeypatch.setattr(avatar, "render_rgba", counting)
    images = ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))
    assert counting.drawn == 1
    assert all(np.array_equal(images[e], render_rgba(DEFAULT_LOOK, e, SIZE)) for e in EXPRESSIONS)
    ready_set(DEFAULT_LOOK, MemojiStore(tmp_path))  # mended: it was drawn again at every start
    assert counting.drawn == 1


def test_a_store_that_cannot_be_written_only_costs_the_next_start(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    store = MemojiStore(blocked / "memojis")  # cannot be made: a file is in the way
    with caplog.at_level("WARNING", logger="device.avatar"):
        images = ready_set(DEFAULT_LOOK, store)
    assert all(images[e] is not None for e in EXPRESSIONS)
    assert caplog.text.count("cannot keep the memojis") == 1


def test_importing_the_booth_leaves_cairosvg_to_the_first_drawing():
    """cairosvg's import is a third of the booth's (cairocffi parses cairo's C headers):
    a start that finds its memojis kept does without it until frames show."""
    import subprocess
    import sys

    probe = "import sys, device.app; print('cairosvg' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
