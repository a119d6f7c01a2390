"""The look editor's data: fields people can read, colour swatches, and cached previews.

A preview URL carries the whole look in its query, so the same URL always
means the same picture: phones may cache it, and the server keeps the last
renders in memory (a render takes tens of milliseconds).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import python_avatars as pa

from device.avatar import (
    FIELD_LABELS,
    LOOK_CHOICES,
    OWN_COLOUR_CLOTHING,
    Look,
    LookError,
    choice_label,
    render_png,
)
from device.labels import EXPRESSIONS

PREVIEW_SIZES = (128, 256, 384, 512)
DEFAULT_PREVIEW_SIZE = 384
# A render holds the GIL for much of its tens of milliseconds, and the kiosk's loop runs in
# the same process: with eight phones drawing at once, its worst frame took 113 to 155 ms,
# and 60 to 77 ms with two at a time (a throwaway flood script, three runs each). Two at a
# time, from all phones together; a cached preview waits for nothing.
RENDER_SLOTS = threading.BoundedSemaphore(2)

# Fields whose values are colours: the page shows swatches instead of a list.
_COLOUR_ENUMS = {"skin_color": pa.SkinColor, "hair_color": pa.HairColor, "clothing_color": pa.ClothingColor}


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    swatch: str | None = None  # "#rrggbb" for colours


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    options: tuple[Option, ...]
    hint: str = ""  # shown under the field: when a choice does not apply

    @property
    def is_colour(self) -> bool:
        return all(option.swatch for option in self.options)


def _swatch(field: str, value: str) -> str | None:
    enum = _COLOUR_ENUMS.get(field)
    if enum is None:
        return None
    try:
        colour = enum[value].value
    except KeyError:
        return None
    return colour if isinstance(colour, str) and colour.startswith("#") else None


_FIELD_HINTS = {
    "clothing_color": "The {} {} own colours.".format(
        " and the ".join(choice_label(value).lower() for value in OWN_COLOUR_CLOTHING),
        "keeps its" if len(OWN_COLOUR_CLOTHING) == 1 else "keep their"),
}


@functools.cache
def look_fields() -> tuple[Field, ...]:
    """Every look attribute with its choices, in the order the editor shows them."""
    return tuple(
        Field(
            name=name,
            label=FIELD_LABELS.get(name, name.replace("_", " ").capitalize()),
            options=tuple(Option(value, choice_label(value), _swatch(name, value)) for value in choices),
            hint=_FIELD_HINTS.get(name, ""),
        )
        for name, choices in LOOK_CHOICES.items()
    )


def look_from_fields(fields: Mapping[str, object], base: Look) -> Look:
    """`base` changed by `fields` (all or some look attributes); LookError names a bad one."""
    return Look.from_dict(dict(fields), base=base)


class PreviewError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_expression(expression: str | None) -> str:
    if expression not in EXPRESSIONS:
        raise PreviewError("expression", f"expression: {expression!r} is not one of {', '.join(EXPRESSIONS)}")
    return expression


def check_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_PREVIEW_SIZE
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size not in PREVIEW_SIZES:
        raise PreviewError("size", f"size: must be one of {', '.join(map(str, PREVIEW_SIZES))}")
    return size


@functools.lru_cache(maxsize=128)
def preview_png(look: Look, expression: str, size: int) -> bytes:
    """The memoji for `look` and `expression` as PNG bytes, remembered for repeat requests."""
    with RENDER_SLOTS:
        return render_png(look, expression, size)


__all__ = [
    "DEFAULT_PREVIEW_SIZE", "Field", "LookError", "Option", "PREVIEW_SIZES", "PreviewError",
    "check_expression", "check_size", "look_fields", "look_from_fields", "preview_png",
]
