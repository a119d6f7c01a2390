"""The look editor: gender preset, every attribute, random, a live preview of any expression, save."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for

from device.avatar import PRESETS, LookError, apply_preset, preset_fields
from device.gallery import StorageFullError
from device.labels import EXPRESSIONS
from device.webui.blueprints._common import kiosk
from device.webui.errors import log_card_written
from device.webui.looks import DEFAULT_PREVIEW_SIZE, look_fields, look_from_fields
from device.webui.security import CSRF_FIELD, operator_required

bp = Blueprint("look", __name__)


@bp.get("/look")
def edit():
    """The editor, filled with the saved look."""
    look = kiosk().load_look()
    editor = {
        "look": look.to_dict(),
        "presets": {name: preset_fields(name) for name in PRESETS},
        "expressions": list(EXPRESSIONS),
        "previewUrl": url_for("api.preview"),
        "previewSize": DEFAULT_PREVIEW_SIZE,
    }
    return render_template("look/edit.html", look=look, fields=look_fields(), presets=PRESETS,
                           expressions=EXPRESSIONS, editor=editor, saved=request.args.get("saved") == "1",
                           preview_size=DEFAULT_PREVIEW_SIZE)


@bp.get("/look/swatches.css")
def swatches_css():
    """The colour of every swatch dot, as a stylesheet.

    The page's security policy allows no inline styles, and the dots must show
    their colours without JavaScript too.
    """
    rules = sorted({f'.dot[data-swatch="{option.swatch}"] {{ background-color: {option.swatch}; }}'
                    for field in look_fields() for option in field.options if option.swatch})
    response = make_response("\n".join(rules) + "\n")
    response.mimetype = "text/css"
    response.cache_control.max_age = 3600
    return response


@bp.post("/look")
@operator_required
def save_form():
    """Save from the plain form (the page without JavaScript)."""
    fields = {key: value for key, value in request.form.items() if key != CSRF_FIELD}
    preset = fields.pop("preset", None)
    if preset and preset not in PRESETS:
        abort(400, description=f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
    try:
        look = look_from_fields(fields, kiosk().load_look())
    except LookError as error:
        abort(400, description=str(error))
    if preset:  # the form's choices, styled by the preset button that sent it
        look = apply_preset(look, preset)
    try:
        kiosk().save_look(look)
    except StorageFullError as error:
        abort(507, description=str(error))
    log_card_written("full", "unwritable")
    return redirect(url_for("look.edit", saved=1), code=303)
