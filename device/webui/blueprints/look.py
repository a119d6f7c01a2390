"""The look editor: gender preset, every attribute, random, a live preview of any expression, save."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from device.avatar import PRESETS, LookError
from device.gallery import StorageFullError
from device.labels import EXPRESSIONS
from device.webui.blueprints._common import kiosk
from device.webui.looks import DEFAULT_PREVIEW_SIZE, look_fields, look_from_fields
from device.webui.security import CSRF_FIELD, operator_required

bp = Blueprint("look", __name__)


@bp.get("/look")
def edit():
    """The editor, filled with the saved look."""
    look = kiosk().load_look()
    editor = {
        "look": look.to_dict(),
        "presets": {name: preset.to_dict() for name, preset in PRESETS.items()},
        "expressions": list(EXPRESSIONS),
        "previewUrl": url_for("api.preview"),
        "previewSize": DEFAULT_PREVIEW_SIZE,
    }
    return render_template("look/edit.html", look=look, fields=look_fields(), presets=PRESETS,
                           expressions=EXPRESSIONS, editor=editor, saved=request.args.get("saved") == "1",
                           preview_size=DEFAULT_PREVIEW_SIZE)


@bp.post("/look")
@operator_required
def save_form():
    """Save from the plain form (the page without JavaScript)."""
    fields = {key: value for key, value in request.form.items() if key != CSRF_FIELD}
    preset = fields.pop("preset", None)
    base = kiosk().load_look()
    if preset:
        if preset not in PRESETS:
            abort(400, description=f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
        base, fields = PRESETS[preset], {}
    try:
        look = look_from_fields(fields, base)
    except LookError as error:
        abort(400, description=str(error))
    try:
        kiosk().save_look(look)
    except StorageFullError as error:
        abort(507, description=str(error))
    return redirect(url_for("look.edit", saved=1), code=303)
