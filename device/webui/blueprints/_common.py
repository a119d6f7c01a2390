"""Helpers the blueprints share: the kiosk link and an entry as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, url_for

from device.webui.kiosk import KioskLink
from device.webui.security import is_operator


def kiosk() -> KioskLink:
    return current_app.extensions["kiosk"]


def health_notices() -> list[str]:
    """The notice at the top of every page: what is wrong with the Pi, for the operator only
    (a guest can do nothing about a weak supply, and is not told of it)."""
    return kiosk().health_warnings() if is_operator() else []


def entry_json(entry: Any) -> dict[str, Any]:
    """A saved memoji with the URLs a phone (or the kiosk's QR code) uses."""
    return {
        "name": entry.name,
        "expression": entry.expression,
        "score": round(float(entry.score), 4),
        "time": entry.time.isoformat(timespec="seconds"),
        "look": entry.look,
        "page": url_for("gallery.entry", name=entry.name),
        "image": url_for("gallery.media", name=entry.name),
        "thumb": url_for("gallery.thumb", name=entry.name),
        "download": url_for("gallery.download", name=entry.name),
    }


def local_time(moment: datetime, fmt: str) -> str:
    """A saved time (kept in UTC) as the booth's own clock shows it, with its zone's name:
    guests read the time of their event, not UTC (set the Pi's zone with raspi-config)."""
    here = moment.astimezone()
    return f"{here.strftime(fmt)} {here.tzname()}"


def is_whole_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() then refuses."""
    return text.isascii() and text.isdigit()


def parse_page(text: str | None) -> int:
    """A page number from the query (1 when absent); ValueError for anything but a positive integer."""
    if text is None or text == "":
        return 1
    if not is_whole_number(text) or int(text) < 1:
        raise ValueError(f"page: must be a whole number from 1, got {text!r}")
    return int(text)

