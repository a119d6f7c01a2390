"""Operator login with the PIN (web.pin); the session cookie then allows changes."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from device.webui.blueprints._common import is_whole_number
from device.webui.security import (
    check_pin,
    operator_mark,
    pin_configured,
    pin_locked_for,
    pin_locked_for_everyone,
    safe_next,
    wait_in_words,
)

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Ask for the PIN; a right one marks this session as the operator's."""
    target = safe_next(request.values.get("next"), url_for("look.edit"))
    if not pin_configured():
        return redirect(target)
    error = None
    if request.method == "POST" and not pin_locked_for():
        if check_pin(request.form.get("pin", "")):
            csrf = session.get("csrf")
            session.clear()  # a fresh session on privilege change
            session.permanent = True
            session["operator"] = operator_mark()
            if csrf:
                session["csrf"] = csrf
            return redirect(target, code=303)
        error = "Wrong PIN."
    wait = pin_locked_for()
    if wait:  # locked out (perhaps by the PIN just sent): for how long, and no form to type into
        lead = "Wrong PIN, and that was too many" if error else "Too many wrong PINs"
        if pin_locked_for_everyone():  # the operator's phone, which sent none, reads this too
            error = f"{lead} from all phones together. No phone can try again for {wait_in_words(wait)}."
        else:
            error = f"{lead}. This phone can try again in {wait_in_words(wait)}."
        return (render_template("auth/login.html", error=error, locked=True, next=target), 429,
                {"Retry-After": str(math.ceil(wait))})
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, locked=False, next=target,
                           numeric=_numeric_pin()), status


def _numeric_pin() -> bool:
    """A PIN of digits gets the phone's number pad; any other a full keyboard, since some
    phones' number pad has no way to type a letter, which locked the operator out."""
    return is_whole_number(str(current_app.config.get("OPERATOR_PIN") or ""))


@bp.post("/logout")
def logout():
    """Forget the operator login on this phone."""
    session.pop("operator", None)
    return redirect(url_for("look.edit"), code=303)
