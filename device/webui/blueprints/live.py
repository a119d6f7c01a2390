"""The live view: the kiosk's current expression and scores, and its capture button."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

from device.labels import EXPRESSIONS
from device.webui.blueprints._common import kiosk
from device.webui.kiosk import NOT_RUNNING_MESSAGE

bp = Blueprint("live", __name__)


@bp.get("/live")
def view():
    """The live page; its script polls /api/status."""
    link = kiosk()
    live = {
        "statusUrl": url_for("api.status"),
        "captureUrl": url_for("api.capture"),
        "previewUrl": url_for("api.preview"),
        "lookUrl": url_for("api.get_look"),
        "look": link.load_look().to_dict(),
        "expressions": list(EXPRESSIONS),
    }
    return render_template("live/live.html", running=link.running, status=link.status(),
                           expressions=EXPRESSIONS, live=live,
                           not_running_message=NOT_RUNNING_MESSAGE)
