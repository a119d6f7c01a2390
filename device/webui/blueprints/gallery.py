"""Saved memojis: newest first and paged (as thumbnails), one page per memoji (the kiosk's QR
code), download (one, or all as a ZIP), delete (one, or all at the end of an event)."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from device.gallery import THUMB_PX, Erased
from device.storage import CARD_ADVICE, card_fault_where, is_card_fault
from device.webui.archive import zip_chunks
from device.webui.blueprints._common import is_whole_number, kiosk, parse_page
from device.webui.errors import log_card_fault, log_card_written
from device.webui.security import (
    PIN_HEADER,
    WRONG_PIN_HEADER,
    is_operator,
    operator_required,
    pin_configured,
)
from device.words import how_many

log = logging.getLogger(__name__)

bp = Blueprint("gallery", __name__)

IMAGE_MAX_AGE_S = 24 * 3600  # a saved memoji never changes under its name


def memoji_path(name: str) -> Path:
    """The file of a saved memoji PNG; 404 for anything else (other files, `..`, photos)."""
    if not name.endswith(".png") or "/" in name or "\\" in name or name.startswith("."):
        abort(404, description="No such memoji.")
    gallery = kiosk().gallery
    try:
        path = gallery.path_of(name)
    except KeyError:
        abort(404, description="No such memoji. It may have been deleted.")
    folder = Path(gallery.folder).resolve()
    if path.resolve().parent != folder:  # defence in depth: never serve outside the gallery
        abort(404, description="No such memoji.")
    return path


def delete_memoji(name: str) -> None:
    """Delete a saved memoji (and its photo); 404 if it is not there (any more)."""
    memoji_path(name)
    try:
        kiosk().gallery.delete(name)
    except KeyError:
        abort(404, description="No such memoji. It may have been deleted already.")
    log_card_written("unwritable")  # not "full": a deletion needs no room, a save does


# Without a PIN every phone is the operator's: one guest's tap would end everyone's event.
ERASE_NEEDS_PIN = ("Deleting every memoji at once needs an operator PIN (web.pin): without one, any "
                   "guest could do it. Set one, or run `memoji-booth erase` on the booth.")


def erase_memojis(through: str) -> Erased:
    """The operator's "Delete all": every memoji up to ``through`` (the newest they were
    shown; one saved since is kept), with photos and thumbnails. 403 without a PIN, 503
    when the card would not let some go (the rest are gone, the gallery still works);
    ValueError for a ``through`` that is no memoji's name."""
    if not pin_configured():
        abort(403, description=ERASE_NEEDS_PIN)
    gallery = kiosk().gallery
    erased = gallery.erase(through)
    if erased.error is not None:
        files = how_many(len(erased.failed), "file")
        log_card_fault("unwritable", "Delete all left %s (%s): %s cannot be used (%s). %s", files,
                       "; ".join(erased.failed[:3]), *card_fault_where(erased.error, gallery.folder),
                       CARD_ADVICE)
        deleted = how_many(erased.memojis, "memoji")
        abort(503, description=f"Deleted {deleted}, but {files} could not be removed "
                               f"({erased.error.strerror or erased.error}). The memory card may be "
                               "read-only or failing: see the booth's log.")
    log_card_written("unwritable")
    return erased


def find_entry(name: str):
    memoji_path(name)
    for entry in kiosk().gallery.entries():
        if entry.name == name:
            return entry
    abort(404, description="No such memoji. It may have been deleted.")


@bp.get("/gallery")
def index():
    """Saved memojis, newest first, a page at a time."""
    try:
        number = parse_page(request.args.get("page"))
    except ValueError as error:
        abort(400, description=str(error))
    per_page = current_app.config["GALLERY_PER_PAGE"]
    entries, total = kiosk().gallery.page(number, per_page)
    pages = max(1, math.ceil(total / per_page))
    if number > pages:  # an old link, or memojis deleted since: the last page there is
        return redirect(url_for("gallery.index", page=pages if pages > 1 else None))
    erased = request.args.get("erased", "")
    return render_template("gallery/index.html", entries=entries, page=number, pages=pages, total=total,
                           thumb_px=THUMB_PX, deleted=request.args.get("deleted") == "1",
                           erased=int(erased) if is_whole_number(erased) else None,
                           erasable=bool(entries or kiosk().gallery.names()))


@bp.get("/gallery/all.zip")
def download_all():
    """Every saved memoji in one ZIP (operator only): the end-of-event export."""
    if not is_operator():
        if request.headers.get(PIN_HEADER):  # a script: answered as the API answers it
            abort(401, description=WRONG_PIN_HEADER)
        # a lapsed login: log in and come back to the gallery (back to the ZIP itself, the
        # browser would download it and stay on the login page)
        return redirect(url_for("auth.login", next=url_for("gallery.index")))
    gallery = kiosk().gallery
    files = []
    for saved in gallery.entries():
        try:
            files.append((saved.name, gallery.path_of(saved.name)))
        except KeyError:  # deleted since it was listed
            continue
    if not files:
        abort(404, description="No memojis saved yet.")
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(zip_chunks(files), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="memojis-{stamp}.zip"',
        "Cache-Control": "no-store"})


@bp.get("/gallery/<name>")
def entry(name: str):
    """One memoji, big, with its download button: where the kiosk's QR code leads."""
    return render_template("gallery/entry.html", entry=find_entry(name))


@bp.get("/media/<name>")
def media(name: str):
    """The PNG itself, shown inline."""
    return send_file(memoji_path(name), mimetype="image/png", max_age=IMAGE_MAX_AGE_S, conditional=True)


@bp.get("/gallery/<name>/thumb.png")
def thumb(name: str):
    """The PNG, small (drawn once, then kept): what the gallery's grid shows."""
    path = memoji_path(name)
    gallery = kiosk().gallery
    drawn_before = gallery.thumbs_drawn
    try:
        path = gallery.thumb_of(name)
    except KeyError:
        abort(404, description="No such memoji. It may have been deleted.")
    except (OSError, ValueError) as error:  # a full card, a damaged memoji: show what there is
        if is_card_fault(error):  # every image of every page
            log_card_fault("thumbnails", "the gallery's thumbnails cannot be written in %s (%s): "
                           "phones get the full memojis, which load slower. %s",
                           *card_fault_where(error, gallery.folder), CARD_ADVICE)
        else:
            log.warning("gallery: no thumbnail for %s (%s); sending the memoji itself", name, error)
        return send_file(path, mimetype="image/png", max_age=0, conditional=True)
    if gallery.thumbs_drawn != drawn_before:  # one written just now (here or beside), not one kept
        log_card_written("thumbnails")
    return send_file(path, mimetype="image/png", max_age=IMAGE_MAX_AGE_S, conditional=True)


@bp.get("/gallery/<name>/download")
def download(name: str):
    """The PNG as a download (saved to the phone)."""
    return send_file(memoji_path(name), mimetype="image/png", as_attachment=True, download_name=name,
                     max_age=IMAGE_MAX_AGE_S, conditional=True)


@bp.post("/gallery/<name>/delete")
@operator_required
def delete(name: str):
    """Delete from the plain form (operator only)."""
    delete_memoji(name)
    return redirect(url_for("gallery.index", deleted=1), code=303)


@bp.get("/gallery/delete-all")
@operator_required
def confirm_delete_all():
    """Ask to confirm deleting every memoji (operator only; needs web.pin)."""
    if not pin_configured():
        abort(403, description=ERASE_NEEDS_PIN)
    doomed = kiosk().gallery.to_erase()  # the damaged memojis too: erase removes them
    if not doomed.memojis:
        return redirect(url_for("gallery.index"))
    return _confirm_page(doomed.through, doomed.memojis, doomed.photos, doomed.damaged)


def _confirm_page(through: str, count: int, photos: int, damaged: int, wrong: bool = False):
    return render_template("gallery/delete_all.html", through=through, count=count, photos=photos,
                           damaged=damaged, wrong=wrong), 400 if wrong else 200


@bp.post("/gallery/delete-all")
@operator_required
def delete_all():
    """Delete every memoji up to the newest shown, with photos and thumbnails, once their number is typed."""
    through, count = request.form.get("through", ""), request.form.get("count", "")
    photos, damaged = request.form.get("photos", "0"), request.form.get("damaged", "0")
    if not all(map(is_whole_number, (count, photos, damaged))):
        abort(400, description="count: reload the page and try again.")
    if request.form.get("confirm", "").strip() != count:  # typed, so no stray tap deletes them all
        return _confirm_page(through, int(count), int(photos), int(damaged), wrong=True)
    try:
        erased = erase_memojis(through)
    except ValueError:
        abort(400, description="through: reload the page and try again.")
    return redirect(url_for("gallery.index", erased=erased.memojis), code=303)
