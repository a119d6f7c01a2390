"""Every error as a clear message: JSON for the API, a small page for people; never a stack trace.

HTTP errors (400, 404, 413, ...) keep their status and say what to do. A card
that cannot be written (read-only, failing) is a 503 that says so. Any
other exception is logged with its trace on the server and answered with a
plain 500 message, so nothing about the code or the files reaches a client.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from device.recurring import RecurringFault
from device.storage import CARD_ADVICE, FULL_CARD_ADVICE, card_fault_where, is_card_fault

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Something went wrong on the booth. Try again; if it keeps happening, tell the operator."


class InsufficientStorage(HTTPException):
    """507, which werkzeug's abort() does not know (it raised LookupError, so a full card
    on the pages' plain forms showed "Something went wrong", a 500): the app's aborter
    is taught it, and `abort(507, ...)` works in every view."""

    code = 507
    description = "The booth's memory card is full."


def wants_json() -> bool:
    """API paths always get JSON; pages get HTML unless the client asks for JSON."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


# Each kind of card fault the page logs (log_card_fault), and the line that says it ended:
# as the booth says "memojis are saved again, after N that could not be".
CARD_FAULT_ENDS = {
    "full": "phones' photos and looks are saved again, after %d that could not be",
    "unwritable": "phones' requests can use the memory card again, after %d that failed",
    "thumbnails": "the gallery's thumbnails are written again, after %d that could not be",
}


def log_card_fault(kind: str, message: str, *args: object) -> None:
    """A card that is full or cannot be written fails every phone's request alike: the
    journal says so when it starts and then every few minutes, with the count."""
    fault: RecurringFault = current_app.extensions["card_faults"][kind]
    if fault.failed(time.monotonic()):
        count = f" ({fault.total} requests so far)" if fault.total > 1 else ""
        log.error(message + count, *args)


def log_card_written(*kinds: str) -> None:
    """A view wrote to the card: each of these kinds of card fault this write disproves ends
    here, said once if its start was logged (else the operator never learns it is over)."""
    faults = current_app.extensions["card_faults"]
    for kind in kinds:
        if ended := faults[kind].ended():
            log.info(CARD_FAULT_ENDS[kind], ended)


def error_response(status: int, message: str, **extra: object):
    """One error, in the form the client reads."""
    if status == InsufficientStorage.code:  # the views answer a full card here, each its own way
        log_card_fault("full", "a phone's photo or look was not saved: the memory card is full "
                       "(%s). %s", current_app.config["DATA_DIR"], FULL_CARD_ADVICE)
    if wants_json():
        return jsonify({"error": message, "status": status, **extra}), status
    try:
        return render_template("errors/error.html", status=status, message=message), status
    except Exception:  # the error page itself failed: still answer, still without a trace
        log.exception("the error page could not be rendered")
        return Response(message, status=status, mimetype="text/plain"), status


def _too_large_message() -> str:
    from flask import current_app

    limit_mb = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return f"The upload is too large: the limit is {limit_mb:g} MB. Send a smaller photo."


def register_error_handlers(app: Flask) -> None:
    app.aborter.mapping[InsufficientStorage.code] = InsufficientStorage
    app.extensions["card_faults"] = {kind: RecurringFault() for kind in CARD_FAULT_ENDS}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, RequestEntityTooLarge):
            message = _too_large_message()
        else:
            message = error.description or error.name
        response = make_response(error_response(error.code or 500, message))  # a page is only a str
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        if getattr(error, "retry_after", None) is not None:  # 429: when a script may try again
            response.headers["Retry-After"] = dict(error.get_headers())["Retry-After"]
        return response

    @app.errorhandler(FileNotFoundError)
    def file_gone(error: FileNotFoundError):
        """A memoji pruned or deleted between its lookup and its sending: what a second
        later would be a 404 is one now, not a 500. Only when reading: a write that finds
        its folder gone is no missing memoji."""
        if request.method not in ("GET", "HEAD"):
            return storage_error(error)
        log.debug("%s %s: %s is gone", request.method, request.path, error.filename)
        return error_response(404, "No such memoji. It may have been deleted.")

    @app.errorhandler(OSError)
    def storage_error(error: OSError):
        """A card the kernel remounted read-only, or one that fails (EIO): the operator's to
        fix, so say that, not "something went wrong" (a full card is a 507, in the views).
        Any other OSError (a memoji deleted while it was being sent) is no card fault."""
        if not is_card_fault(error):
            return unexpected_error(error)
        # Not a traceback: the card is at fault, not the code.
        log_card_fault("unwritable", "a phone's request failed (%s %s): %s cannot be used "
                       "(%s). %s", request.method, request.path,
                       *card_fault_where(error, current_app.config["DATA_DIR"]), CARD_ADVICE)
        return error_response(503, f"The booth cannot use its memory card ({error.strerror}). "
                                   "Tell the operator.")

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL_ERROR_MESSAGE)
