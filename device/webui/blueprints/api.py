"""The JSON API behind the pages (the README's "Web API" table is generated from these views).

- Errors: `{"error": message, "status": code}`, plus `"field"` when one input
  is wrong (400). 401: the operator PIN is needed; 403: missing CSRF token;
  404: no such memoji; 409: the kiosk is busy; 413: upload too large;
  422: no face in the photo; 429: too many wrong PINs; 503: no kiosk in this
  process (capture) or no model loaded (capture, photo; the message names
  the missing file and how to get it), or a memory card that cannot be
  written (read-only, failing); 507: storage full.
- Changing the look, capturing and deleting need the PIN when `web.pin` is
  set: a logged-in session, or the header `X-Booth-Pin`. Deleting them all
  needs a PIN to be set (403 without one).
- From a browser, state-changing calls carry `X-CSRF-Token` (the page's
  `<meta name="csrf-token">`); a script without cookies needs no token.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, jsonify, request

from device.avatar import PRESETS, Look, LookError, apply_preset, preset_fields
from device.gallery import StorageFullError
from device.labels import EXPRESSIONS
from device.webui.blueprints._common import entry_json, is_whole_number, kiosk, parse_page
from device.webui.blueprints.gallery import delete_memoji, erase_memojis
from device.webui.blueprints.photo import make_memoji_from_upload
from device.webui.errors import error_response, log_card_written
from device.webui.kiosk import AnalyserUnavailable, KioskUnavailable, jsonable
from device.webui.looks import (
    DEFAULT_PREVIEW_SIZE,
    PreviewError,
    check_expression,
    check_size,
    look_fields,
    look_from_fields,
    preview_png,
)
from device.webui.photos import UploadError
from device.webui.security import is_operator, operator_required

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_PER_PAGE = 100
PREVIEW_MAX_AGE_S = 24 * 3600

# What a guest's phone is told of the kiosk's status: what the live page shows it. The
# camera's name, the model's file path, the problems' details and the frame counters name
# devices and files on the booth: they are the operator's. A key added later stays theirs.
GUEST_STATUS_KEYS = frozenset({"running", "message", "state", "expression", "score", "scores", "face",
                               "fps", "camera_state", "saving"})
# A problem is still said to a guest, in words without the details.
GUEST_PROBLEMS = {
    "model_error": "No expression model is loaded on this booth: tell the operator.",
    "camera_problem": "The camera is not working: tell the operator.",
}


def bad_field(field: str, message: str):
    """400 naming the field that is wrong."""
    return error_response(400, message, field=field)


@bp.get("/look")
def get_look():
    """The saved look."""
    return jsonify(kiosk().load_look().to_dict())


@bp.put("/look")
@operator_required
def put_look():
    """Change the look: all or some fields, or {"preset": "female"}; applies to the kiosk at once."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # json nests deeper than Python recurses: not a look either
        body = None
    if not isinstance(body, dict):
        return bad_field("", 'Send a JSON object of look fields, e.g. {"hair_color": "BLACK"}.')
    fields = dict(body)
    preset = fields.pop("preset", None)
    base = kiosk().load_look()
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            return bad_field("preset", f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
        base = apply_preset(base, preset)
    try:
        look = look_from_fields(fields, base)
    except LookError as error:
        return bad_field(error.field, str(error))
    try:
        kiosk().save_look(look)
    except StorageFullError as error:
        return error_response(507, str(error))
    log_card_written("full", "unwritable")
    return jsonify(look.to_dict())


@bp.get("/look/options")
def look_options():
    """Every field with its allowed values (and swatch colours), the presets and the expressions."""
    return jsonify({
        "fields": [
            {"name": f.name, "label": f.label,
             "options": [{"value": o.value, "label": o.label, "swatch": o.swatch} for o in f.options]}
            for f in look_fields()
        ],
        "presets": {name: preset_fields(name) for name in PRESETS},
        "expressions": list(EXPRESSIONS),
    })


@bp.get("/look/random")
def random_look():
    """A random look (not saved: the editor shows it, the operator saves it)."""
    return jsonify(Look.random().to_dict())


@bp.get("/preview.png")
def preview():
    """The memoji for an expression in a look given in the query (missing fields: the saved look)."""
    args = request.args.to_dict()
    try:
        expression = check_expression(args.pop("expression", "neutral"))
        size = check_size(args.pop("size", None))
    except PreviewError as error:
        return bad_field(error.field, str(error))
    complete = set(args) >= {f.name for f in look_fields()}
    base = Look() if complete else kiosk().load_look()
    try:
        look = look_from_fields(args, base)
    except LookError as error:
        return bad_field(error.field, str(error))
    response = Response(preview_png(look, expression, size), mimetype="image/png")
    # A complete look in the URL always draws the same picture; a partial one follows the saved look.
    response.cache_control.public = complete
    response.cache_control.max_age = PREVIEW_MAX_AGE_S if complete else 0
    if not complete:
        response.cache_control.no_cache = True
    return response


@bp.get("/status")
def status():
    """Live state (expression, scores, fps, state); camera, problems, Pi health: operator only."""
    full = kiosk().status()
    return jsonify(full if is_operator() else status_for_guests(full))


def status_for_guests(full: dict) -> dict:
    """The status without what only the operator needs (see GUEST_STATUS_KEYS)."""
    shown = {key: value for key, value in full.items() if key in GUEST_STATUS_KEYS}
    shown.update({key: words for key, words in GUEST_PROBLEMS.items() if full.get(key)})
    return shown


@bp.post("/capture")
@operator_required
def capture():
    """Start the kiosk's countdown, as the GPIO button does."""
    try:
        accepted = kiosk().request_capture()
    except (KioskUnavailable, AnalyserUnavailable) as error:
        return error_response(503, str(error))
    if accepted is False:
        return error_response(409, "The kiosk is busy (a countdown or save is under way). Try again in a moment.")
    return jsonify({"capture": "started", "message": "Countdown started on the kiosk."}), 202


@bp.get("/gallery")
def gallery():
    """Saved memojis, newest first: ?page=1&per_page=12."""
    try:
        number = parse_page(request.args.get("page"))
    except ValueError as error:
        return bad_field("page", str(error))
    per_page_text = request.args.get("per_page", str(current_app.config["GALLERY_PER_PAGE"]))
    if not is_whole_number(per_page_text) or not 1 <= int(per_page_text) <= MAX_PER_PAGE:
        return bad_field("per_page", f"per_page: must be a whole number from 1 to {MAX_PER_PAGE}")
    per_page = int(per_page_text)
    entries, total = kiosk().gallery.page(number, per_page)
    return jsonify({
        "page": number,
        "per_page": per_page,
        "total": total,
        "pages": max(1, math.ceil(total / per_page)),
        "entries": [entry_json(e) for e in entries],
    })


@bp.delete("/gallery/<name>")
@operator_required
def delete(name: str):
    """Delete one memoji (operator only)."""
    delete_memoji(name)
    return "", 204


@bp.delete("/gallery")
@operator_required
def delete_all():
    """Delete every memoji up to ?through=<name> (the newest seen) and every damaged one, with photos (operator; needs web.pin)."""
    try:
        erased = erase_memojis(request.args.get("through", ""))
    except ValueError:
        return bad_field("through", "through: name the newest memoji to delete (the first entry of "
                                    "GET /api/gallery); one saved after it is kept")
    return jsonify({"deleted": erased.memojis, "photos": erased.photos, "kept": erased.kept})


@bp.post("/photo")
def photo():
    """Multipart field `photo` -> the memoji of its largest face in the current look, saved."""
    try:
        result = make_memoji_from_upload()
    except UploadError as error:
        return error_response(error.status, str(error))
    return jsonify({
        **entry_json(result.entry),
        "scores": jsonable(result.scores),
        "faces": result.faces,
    }), 201


__all__ = ["bp", "DEFAULT_PREVIEW_SIZE"]
