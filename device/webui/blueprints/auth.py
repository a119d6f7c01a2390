"""Operator login with the PIN (web.pin); the session cookie then allows changes."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from device.webui.security import check_pin, pin_configured, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Ask for the PIN; a right one marks this session as the operator's."""
    target = safe_next(request.values.get("next"), url_for("look.edit"))
    if not pin_configured():
        return redirect(target)
    error = None
    if request.method == "POST":
        if check_pin(request.form.get("pin", "")):
            csrf = session.get("csrf")
            session.clear()  # a fresh session on privilege change
            session.permanent = True
            session["operator"] = True
            if csrf:
                session["csrf"] = csrf
            return redirect(target, code=303)
        error = "Wrong PIN."
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, next=target), status


@bp.post("/logout")
def logout():
    """Forget the operator login on this phone."""
    session.pop("operator", None)
    return redirect(url_for("look.edit"), code=303)
