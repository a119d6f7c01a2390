"""Photo upload: a selfie from the phone becomes a memoji in the current look."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from device.gallery import StorageFullError
from device.webui.blueprints._common import kiosk
from device.webui.errors import log_card_written
from device.webui.kiosk import AnalyserUnavailable
from device.webui.photos import PhotoResult, UploadError, decode_photo, memoji_from_photo
from device.webui.security import is_operator, photo_slot_or_429

bp = Blueprint("photo", __name__)


def make_memoji_from_upload() -> PhotoResult:
    """The shared work of the page and the API: read field `photo`, analyse, render, save."""
    give_back = photo_slot_or_429()
    try:
        result = _memoji_from_upload()
    except BaseException:  # nothing saved (no face, not an image, full card): not counted
        give_back()
        raise
    log_card_written("full", "unwritable")
    return result


def _memoji_from_upload() -> PhotoResult:
    upload = request.files.get("photo")
    if upload is None:
        raise UploadError(400, "photo: send the image in the multipart form field `photo`.")
    rgb = decode_photo(upload.read())
    link = kiosk()
    try:
        analyser = link.analyser()
    except AnalyserUnavailable as error:  # its detail names files: the operator's, as in /api/status
        detail = str(error) if is_operator() else "it cannot read faces now. Tell the operator."
        raise UploadError(503, f"Photo upload is unavailable on this booth: {detail}") from error
    try:
        return memoji_from_photo(rgb, analyser=analyser, analyse_lock=link.analyse_lock,
                                 look=link.load_look(), gallery=link.gallery,
                                 save_photo=current_app.config["MEMOJI_CONFIG"].booth.save_photo)
    except StorageFullError as error:
        raise UploadError(507, str(error)) from error


@bp.get("/photo")
def upload_form():
    """The upload page."""
    return render_template("photo/upload.html", max_bytes=current_app.config["MAX_CONTENT_LENGTH"])


@bp.post("/photo")
def upload():
    """Upload from the plain form; shows the new memoji's page."""
    try:
        result = make_memoji_from_upload()
    except UploadError as error:
        abort(error.status, description=str(error))
    return redirect(url_for("gallery.entry", name=result.entry.name), code=303)
