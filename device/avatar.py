"""Look + expression -> memoji image: python-avatars draws the SVG, cairosvg rasterises it.

A ``Look`` holds what the guest picks (skin, hair, clothes, facial hair,
glasses) as python-avatars enum member names, so it travels as plain JSON
between the web page, the saved look file and PNG metadata. The expression
only chooses eyebrows, eyes and mouth (``EXPRESSION_PARTS``). ``AvatarCache``
keeps the seven images of the current look ready for the display and renders
a new set on its own thread, so a look change never stalls a frame; with a
``MemojiStore`` it also keeps them on disk, so a restart shows them at once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import python_avatars as pa

from device.labels import EXPRESSIONS
from device.storage import atomic_write_bytes, remove_stale_temp_files

__all__ = [
    "DEFAULT_LOOK",
    "EXPRESSION_PARTS",
    "FIELD_LABELS",
    "LOOK_CHOICES",
    "PRESETS",
    "PRESET_FIELDS",
    "AvatarCache",
    "Look",
    "LookError",
    "MemojiStore",
    "OWN_COLOUR_CLOTHING",
    "apply_preset",
    "choice_label",
    "decode_png_rgba",
    "encode_png_rgba",
    "prepare_renderer",
    "preset_fields",
    "render_png",
    "render_rgba",
    "render_svg",
    "time_look_change",
]

log = logging.getLogger(__name__)

# Clothes drawn in fixed colours: the clothing colour does not change them, and
# the editor says so.
OWN_COLOUR_CLOTHING: tuple[str, ...] = ("ASTRONAUT_SUIT",)

# Look field -> the python-avatars enum its values name.
_FIELD_ENUMS: dict[str, type[pa.AvatarEnum]] = {
    "skin_color": pa.SkinColor,
    "hair_type": pa.HairType,
    "hair_color": pa.HairColor,
    "clothing_type": pa.ClothingType,
    "clothing_color": pa.ClothingColor,
    "facial_hair": pa.FacialHairType,
    "accessory": pa.AccessoryType,
}

FIELD_LABELS: dict[str, str] = {
    "skin_color": "Skin",
    "hair_type": "Hair style",
    "hair_color": "Hair colour",
    "clothing_type": "Clothes",
    "clothing_color": "Clothes colour",
    "facial_hair": "Facial hair",
    "accessory": "Glasses",
}

# Every member is offered except bare clothing: a booth is a public place.
LOOK_CHOICES: dict[str, tuple[str, ...]] = {
    field: tuple(
        m.name for m in enum if not (enum is pa.ClothingType and m is pa.ClothingType.NONE)
    )
    for field, enum in _FIELD_ENUMS.items()
}

# Expression -> (eyebrows, eyes, mouth). Chosen so that no two share more than
# one part and each differs in its mouth, so all seven read apart at a glance.
EXPRESSION_PARTS: dict[str, tuple[pa.EyebrowType, pa.EyeType, pa.MouthType]] = {
    "angry": (pa.EyebrowType.ANGRY, pa.EyeType.SQUINT, pa.MouthType.GRIMACE),
    "disgust": (pa.EyebrowType.UP_DOWN, pa.EyeType.SIDE, pa.MouthType.VOMIT),
    "fear": (pa.EyebrowType.SAD_CONCERNED, pa.EyeType.SURPRISED, pa.MouthType.SCREAM_OPEN),
    "happy": (pa.EyebrowType.RAISED_EXCITED, pa.EyeType.HAPPY, pa.MouthType.SMILE),
    "sad": (pa.EyebrowType.SAD_CONCERNED, pa.EyeType.CRY, pa.MouthType.SAD),
    "surprise": (pa.EyebrowType.RAISED_EXCITED, pa.EyeType.SURPRISED, pa.MouthType.DISBELIEF),
    "neutral": (pa.EyebrowType.DEFAULT, pa.EyeType.DEFAULT, pa.MouthType.SERIOUS),
}
assert set(EXPRESSION_PARTS) == set(EXPRESSIONS)

# Fixed parts of every memoji (not part of the look).
_STYLE = pa.AvatarStyle.TRANSPARENT
_NOSE = pa.NoseType.DEFAULT
_SHIRT_GRAPHIC = pa.ClothingGraphic.BEAR


class LookError(ValueError):
    """A look names a field or value python-avatars does not have; ``.field`` says which field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Look:
    """What the guest chose; each value is a member name of the python-avatars enum of that field."""

    skin_color: str = "LIGHT"
    hair_type: str = "SHORT_WAVED"
    hair_color: str = "BROWN"
    clothing_type: str = "HOODIE"
    clothing_color: str = "BLUE_02"
    facial_hair: str = "NONE"
    accessory: str = "NONE"

    def __post_init__(self) -> None:
        for field, choices in LOOK_CHOICES.items():
            value = getattr(self, field)
            if value not in choices:
                raise LookError(
                    field,
                    f"{field}: {value!r} is not a choice; allowed: {', '.join(choices)}",
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Look | None = None) -> Look:
        """Validate a JSON-ish mapping; fields it leaves out come from ``base`` (default: DEFAULT_LOOK).

        Values are matched without regard to case ("long_not_too_long" works).
        """
        if not isinstance(data, Mapping):
            raise LookError("", f"a look must be an object of fields, not {type(data).__name__}")
        values = (base or DEFAULT_LOOK).to_dict()
        for field, value in data.items():
            if field not in LOOK_CHOICES:
                raise LookError(
                    str(field), f"{field}: unknown look field; fields: {', '.join(LOOK_CHOICES)}"
                )
            if not isinstance(value, str):
                raise LookError(field, f"{field}: expected a string, got {value!r}")
            values[field] = value.strip().upper()
        return cls(**values)

    @classmethod
    def salvage(cls, data: object) -> tuple[Look, list[str]]:
        """Every good field of a damaged look, the rest at their defaults, and what was
        dropped: one unknown or outdated value (a renamed python-avatars choice) must
        not cost the guest the rest of their look."""
        look = DEFAULT_LOOK
        if not isinstance(data, Mapping):
            return look, ["the whole look (not an object of fields)"]
        dropped = []
        for field, value in data.items():
            try:
                look = cls.from_dict({field: value}, base=look)
            except LookError:
                dropped.append(f"{field}={value!r}")
        return look, dropped

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def random(cls, rng: random.Random | None = None) -> Look:
        """Any look; facial hair and glasses only half the time, as most guests have neither."""
        rng = rng or random.Random()
        values = {field: rng.choice(choices) for field, choices in LOOK_CHOICES.items()}
        for field in ("facial_hair", "accessory"):
            if rng.random() < 0.5:
                values[field] = "NONE"
        return cls(**values)

    def replace(self, **changes: str) -> Look:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Look] = {
    "female": Look(
        skin_color="LIGHT",
        hair_type="LONG_NOT_TOO_LONG",
        hair_color="BROWN",
        clothing_type="SHIRT_SCOOP_NECK",
        clothing_color="PINK",
        facial_hair="NONE",
        accessory="NONE",
    ),
    "male": Look(
        skin_color="LIGHT",
        hair_type="SHORT_FLAT",
        hair_color="BROWN_DARK",
        clothing_type="SHIRT_CREW_NECK",
        clothing_color="BLUE_03",
        facial_hair="BEARD_LIGHT",
        accessory="NONE",
    ),
}

# What a gender preset sets: the styled parts. Skin colour, hair colour and
# glasses belong to the guest, so choosing a preset keeps them.
PRESET_FIELDS: tuple[str, ...] = ("hair_type", "clothing_type", "clothing_color", "facial_hair")


def preset_fields(name: str) -> dict[str, str]:
    """The fields preset `name` sets (KeyError for an unknown preset)."""
    preset = PRESETS[name]
    return {field: getattr(preset, field) for field in PRESET_FIELDS}


def apply_preset(look: Look, name: str) -> Look:
    """`look` styled by preset `name`, keeping its skin colour, hair colour and glasses."""
    return look.replace(**preset_fields(name))


DEFAULT_LOOK = Look()


# python-avatars' member names that would read wrongly as words: a misspelling, a name.
_LABEL_WORDS = {"BEARD_MAGESTIC": "Beard majestic", "MIA_WALLACE": "Mia Wallace"}


def choice_label(value: str) -> str:
    """A member name as people read it: "LONG_NOT_TOO_LONG" -> "Long not too long",
    "BLUE_01" -> "Blue 1"."""
    if value in _LABEL_WORDS:
        return _LABEL_WORDS[value]
    words = value.split("_")
    return " ".join(word.lstrip("0") if word.isdigit() else word for word in words).capitalize()


# ---------------------------------------------------------------- rendering


def _member(field: str, name: str) -> pa.AvatarEnum:
    return _FIELD_ENUMS[field][name]


def _parts(expression: str) -> tuple[pa.EyebrowType, pa.EyeType, pa.MouthType]:
    try:
        return EXPRESSION_PARTS[expression]
    except KeyError:
        raise ValueError(
            f"unknown expression {expression!r}; expected one of {', '.join(EXPRESSIONS)}"
        ) from None


@functools.cache
def _hair_ids(hair: pa.HairType) -> frozenset[str]:
    """The element ids of a hair style's drawing: some newer python-avatars styles lack the
    group that holds facial hair or glasses."""
    from python_avatars.core import _get_path  # the package's own part locator

    tree = ET.parse(_get_path(pa.HairType, hair))
    return frozenset(element.get("id") for element in tree.iter() if element.get("id"))


def render_svg(look: Look, expression: str) -> str:
    """The memoji as SVG text (264x304 view box, transparent background). Deterministic."""
    eyebrows, eyes, mouth = _parts(expression)
    hair = _member("hair_type", look.hair_type)
    facial_hair = _member("facial_hair", look.facial_hair)
    accessory = _member("accessory", look.accessory)
    hair_color = _member("hair_color", look.hair_color)
    skin = _member("skin_color", look.skin_color)
    common = {
        "style": _STYLE,
        "eyebrows": eyebrows,
        "eyes": eyes,
        "nose": _NOSE,
        "mouth": mouth,
        "facial_hair": facial_hair,
        "skin_color": skin,
        "hair_color": hair_color,
        "facial_hair_color": hair_color,
        "accessory": accessory,
        "clothing": _member("clothing_type", look.clothing_type),
        "clothing_color": _member("clothing_color", look.clothing_color),
        "shirt_graphic": _SHIRT_GRAPHIC,
    }
    # render(path=None) returns text and writes nothing; every fix below edits one tree.
    root = ET.fromstring(pa.Avatar(top=hair, **common).render())
    if hair in _FIXED_HAIR_FILLS:
        _recolour_hair(root, hair, hair_color)
    missing = [
        slot
        for slot, part in (("Facial-Hair", facial_hair), ("Accessory", accessory))
        if part.value and slot not in _hair_ids(hair)
    ]
    if missing:
        _add_missing_slots(root, missing, common)
    if _relative_luminance(str(skin.value)) < _DARK_SKIN:
        _opaque_features(root)
    _masks_first(root)
    if root.get("viewBox") == _DRAWING_BOX:
        root.set("viewBox", _FRAMED_BOX)
    return ET.tostring(root, encoding="unicode")


_SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", _SVG_NS)  # write the SVG back without an ns0: prefix


# python-avatars draws on 264x280 units; tall hair (spikes, braids, a bun) reaches
# up to 18 units above that. The view box starts 24 units higher (the drawing is
# 8% smaller for it), so the top of the hair is not cut off.
_DRAWING_BOX, _FRAMED_BOX = "0 0 264 280", "0 -24 264 304"


def _masks_first(root: ET.Element) -> None:
    """Move every <mask> to the front: cairosvg ignores a mask that is used before it is
    defined, and some python-avatars parts do that (the Wick beard then stays white
    whatever the hair colour, the gladiator's armour blue whatever the clothes colour)."""
    parent_of = {child: parent for parent in root.iter() for child in parent}
    masks = list(root.iter(f"{{{_SVG_NS}}}mask"))
    if not masks:
        return
    defs = ET.Element(f"{{{_SVG_NS}}}defs")
    for mask in masks:
        parent_of[mask].remove(mask)
        defs.append(mask)
    root.insert(0, defs)


# python-avatars draws eyes, eyebrows and mouth in black at 36-70% opacity, which
# reads on light skin but fades into the two darkest (an eyebrow on BLACK skin is
# 1.5:1 against it). On skins darker than this relative luminance (WCAG's
# definition) they are drawn opaque, the most contrast black can give (2.4:1).
_DARK_SKIN = 0.2
_FEATURES = ("Eyes", "Eyebrow", "Mouth")


def _relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of "#RRGGBB"."""
    channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _opaque_features(root: ET.Element) -> None:
    """Eyes, eyebrows and mouth without their see-through fill, so the expression reads on dark skin."""
    for feature in _FEATURES:
        group = _find_id(root, f"{_STYLE.value}_{feature}")
        for element in group.iter() if group is not None else ():
            if "fill-opacity" in element.attrib:
                element.set("fill-opacity", "1")


# Hair styles whose drawings fix their hair's fill where python-avatars does not
# reach (no `Hair-Color` element, or a child that overrides its fill): the ids
# of the shapes that are the hair, so the chosen hair colour still applies.
_FIXED_HAIR_FILLS: dict[pa.HairType, tuple[str, ...]] = {
    pa.HairType.SHAVED_SIDES: ("Hair", "Copetón"),
    pa.HairType.STRAIGHT_2: ("Mask-Hair", "Color"),
}


def _recolour_hair(root: ET.Element, hair: pa.HairType, colour: pa.HairColor) -> None:
    for name in _FIXED_HAIR_FILLS[hair]:
        shape = _find_id(root, f"{hair.value}_{name}")
        if shape is not None:
            shape.set("fill", str(colour.value))


def _add_missing_slots(root: ET.Element, slots: list[str], common: dict[str, Any]) -> None:
    """Borrow the facial hair / glasses groups from a bald render so every look shows them."""
    bald = ET.fromstring(pa.Avatar(top=pa.HairType.NONE, **common).render())
    prefix = pa.HairType.NONE.value
    top = _find_id(root, f"{_STYLE.value}_Top")
    for slot in slots:
        group = _find_id(bald, f"{prefix}_{slot}")
        if top is None or group is None:
            continue
        if slot == "Facial-Hair":
            top.insert(0, group)  # beneath the hair, as in the classic styles
        else:
            top.append(group)  # glasses over everything


def _find_id(root: ET.Element, element_id: str) -> ET.Element | None:
    return next((e for e in root.iter() if e.get("id") == element_id), None)


def render_png(look: Look, expression: str, size: int = 512) -> bytes:
    """The memoji as a size x size PNG with alpha (the 264x304 view box centred)."""
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, got {size}")
    svg = render_svg(look, expression).encode("utf-8")
    cairosvg = _cairosvg()
    if size >= _MIN_RASTER:
        return cairosvg.svg2png(bytestring=svg, output_width=size, output_height=size)
    # cairosvg applies python-avatars' clothing masks wrongly below ~200 px (a grey
    # patch shows through), so small images are drawn larger and scaled down.
    large = decode_png_rgba(
        cairosvg.svg2png(bytestring=svg, output_width=_MIN_RASTER, output_height=_MIN_RASTER)
    )
    return encode_png_rgba(cv2.resize(large, (size, size), interpolation=cv2.INTER_AREA))


_MIN_RASTER = 256


def _cairosvg() -> Any:
    """cairosvg, imported when first needed: it is a third of the booth's import time
    (cairocffi parses cairo's C declarations), which a start that finds its memojis
    in a MemojiStore does without (see prepare_renderer)."""
    import cairosvg

    return cairosvg


def prepare_renderer() -> None:
    """Import what draws memojis now, ahead of the first drawing: the booth calls it off
    its loop once it shows frames, so that the first capture does not wait for it."""
    _cairosvg()


def render_rgba(look: Look, expression: str, size: int) -> np.ndarray:
    """The memoji as a size x size x 4 uint8 RGBA array."""
    return decode_png_rgba(render_png(look, expression, size))


def encode_png_rgba(image: np.ndarray) -> bytes:
    """HxWx4 uint8 RGBA -> PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def decode_png_rgba(png: bytes) -> np.ndarray:
    """PNG bytes (grey, RGB or RGBA) -> HxWx4 uint8 RGBA."""
    if not png:  # OpenCV asserts (cv2.error) on no bytes at all: a file a power cut emptied
        raise ValueError("not a PNG image (no bytes)")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a PNG image")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
    elif image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


# ---------------------------------------------------------------- the cache


class MemojiStore:
    """The current set of memojis as PNG files in ``folder``, so that a restart (after a
    crash, or the next boot) shows them at once instead of drawing seven again: that, and
    the import of cairosvg it then does without, is most of the time to the first memoji.

    Only a cache, of one set: a file is named by a hash of what it was drawn from (the
    SVG, the size, cairosvg's version), so a new look, size or drawing code never finds an
    old picture; one that is missing, damaged or cannot be written is drawn again, never
    an error. Delete the folder at will.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._warned = False
        remove_stale_temp_files(self.folder)  # a power cut during a write leaves these

    def key(self, svg: str, size: int) -> str:
        """Where a memoji drawn from ``svg`` at ``size`` is kept."""
        drawn_by = f"cairosvg {_cairosvg_version()}, {size} px, minimum {_MIN_RASTER} px"
        return hashlib.sha256(f"{drawn_by}\n{svg}".encode()).hexdigest()[:32]

    def load(self, key: str) -> np.ndarray | None:
        """The RGBA image kept under ``key``; None when there is none, or a damaged one."""
        try:
            return decode_png_rgba((self.folder / f"{key}.png").read_bytes())
        except (OSError, ValueError):
            return None

    def keep_only(self, images: Mapping[str, np.ndarray | None]) -> None:
        """Keep these and remove every other one: key -> the RGBA image drawn, written (over
        a damaged file too), or None for one read from here, left as it is."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for key, image in images.items():
                if image is not None:
                    atomic_write_bytes(self.folder / f"{key}.png", encode_png_rgba(image))
            for old in self.folder.glob("*.png"):
                if old.stem not in images:
                    old.unlink(missing_ok=True)
        except OSError as error:  # a full or failing card: saving memojis says so, loudly
            if not self._warned:
                log.warning("cannot keep the memojis in %s (%s); they are drawn again at the "
                            "next start", self.folder, error)
                self._warned = True


@functools.cache
def _cairosvg_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cairosvg")
    except PackageNotFoundError:
        return "unknown"


class AvatarCache:
    """The seven memojis of the current look, re-rendered on one worker thread when the look changes.

    ``get`` always answers from a complete set: the previous one until the new
    one is done. ``version`` bumps once per completed set, so the display
    rebuilds its surfaces once per version. When looks arrive faster than they
    render, only the latest is rendered. With a ``store``, a set found there is
    read instead of drawn, and each set drawn is kept there.
    """

    def __init__(self, size: int = 512, look: Look | None = None,
                 store: MemojiStore | None = None) -> None:
        self.size = size
        self._store = store
        self._changed = threading.Condition()
        self._images: dict[str, np.ndarray] = {}
        self._look: Look | None = None
        self._version = 0
        self._wanted: Look | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if look is not None:
            self.set_look(look)

    @property
    def version(self) -> int:
        return self._version

    @property
    def look(self) -> Look | None:
        """The look of the images ``get`` returns (None before the first set is ready)."""
        return self._look

    def get(self, expression: str) -> np.ndarray | None:
        """The read-only RGBA image for ``expression``, or None while no set is ready yet."""
        return self._images.get(expression)

    def set_look(self, look: Look) -> None:
        """Ask for a new set; returns at once."""
        with self._changed:
            if self._closed:
                raise RuntimeError("AvatarCache is closed")
            self._wanted = look
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="avatar-render", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until no look is waiting, being drawn or being kept in the store (True), or
        until ``timeout`` (False). The set shows before it is kept: ``get`` need not wait."""
        with self._changed:
            return self._changed.wait_for(lambda: self._wanted is None and not self._busy, timeout)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._wanted is not None or self._closed)
                if self._closed:
                    return
                look, self._wanted, self._busy = self._wanted, None, True
            started = time.perf_counter()
            try:
                drawn = self._render_set(look)
                if drawn is not None:
                    with self._changed:
                        self._images = drawn.images
                        self._look = look
                        self._version += 1
                        log.debug("memojis ready: %d in %.2f s, %d of them drawn",
                                  len(drawn.images), time.perf_counter() - started, drawn.rendered)
                    if self._store is not None:
                        self._store.keep_only(drawn.stored)  # after they show: the card may be slow
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _render_set(self, look: Look) -> _Set | None:
        """All seven (read from the store when it has them), or None when a newer look
        arrived meanwhile or rendering failed."""
        drawn = _Set()
        for expression in EXPRESSIONS:
            if self._wanted is not None or self._closed:
                return None  # a newer look wins; do not finish a stale set
            try:
                key = (self._store.key(render_svg(look, expression), self.size)
                       if self._store is not None else None)
                image = self._store.load(key) if key is not None else None
                kept = image is not None
                if not kept:
                    image = render_rgba(look, expression, self.size)
                    drawn.rendered += 1
            except Exception:
                log.exception(
                    "could not render the %s memoji for %s; keeping the previous set",
                    expression,
                    look,
                )
                return None
            image.flags.writeable = False
            drawn.images[expression] = image
            if key is not None:
                drawn.stored[key] = None if kept else image
        return drawn


@dataclass
class _Set:
    """One look's memojis: expression -> RGBA image, by store key those drawn (None: read
    from the store), and how many of them were drawn (not read from the store)."""

    images: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    stored: dict[str, np.ndarray | None] = dataclasses.field(default_factory=dict)
    rendered: int = 0


# ---------------------------------------------------------------- measurement


def time_look_change(
    size: int = 512, looks: int = 5, seed: int = 0, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Seconds (by ``clock``) to render all seven memojis of each of ``looks`` random looks, one thread.

    The target is 1 s (median) at 512 px on one core; ``python -m device.avatar``
    reports wall and CPU time (CPU time is what a busy machine cannot distort).
    """
    rng = random.Random(seed)
    times = []
    for _ in range(looks):
        look = Look.random(rng)
        start = clock()
        for expression in EXPRESSIONS:
            render_rgba(look, expression, size)
        times.append(clock() - start)
    return times


if __name__ == "__main__":
    import statistics
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    for name, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
        results = time_look_change(size, looks=8, clock=clock)
        print(
            f"re-render 7 memojis at {size}px after a look change ({name} time): "
            f"median {statistics.median(results):.3f} s, max {max(results):.3f} s over {len(results)} looks"
        )
