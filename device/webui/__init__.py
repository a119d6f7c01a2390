"""The LAN page: choose the look from a phone, watch the booth live, take the memojis home.

`create_app(config, booth=None)` builds the Flask application; there is no
module-level app, so every path and secret comes from `app.config` and tests
run on a temporary folder. Inside `memoji-booth run` the page talks to the
booth through its thread-safe methods only (`status`, `request_capture`,
`apply_look`, and its `gallery`), so a slow or failing request can never
stall the display loop; alone (`memoji-booth web`) it works on the saved
files: the look through `LookStore` (the kiosk polls it) and the gallery
folder. Either way photo uploads use a face detector and expression model of
the page's own (see `kiosk.py`). Served by waitress (`server.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from device.webui.errors import register_error_handlers
from device.webui.kiosk import KioskLink
from device.webui.security import install_security, load_or_create_secret_key
from device.webui.server import ServerHandle, listen_advice, serve, start_in_thread

__all__ = ["ServerHandle", "create_app", "listen_advice", "serve", "start_in_thread"]

log = logging.getLogger(__name__)

MEBIBYTE = 1024 * 1024


def create_app(config: Any, booth: Any = None, *, test_config: Mapping[str, Any] | None = None) -> Flask:
    """The LAN page for `config` (a device.config.Config), attached to `booth` when one runs here.

    `test_config` overrides `app.config` keys after the defaults are set
    (e.g. ``{"TESTING": True, "ANALYSER_FACTORY": lambda: fake}``).
    """
    app = Flask(__name__)
    data_dir = config.storage.data_dir
    app.config.update(
        MEMOJI_CONFIG=config,
        DATA_DIR=data_dir,
        GALLERY_DIR=data_dir / "gallery",
        LOOK_PATH=data_dir / "look.json",
        OPERATOR_PIN=config.web.pin,
        MAX_CONTENT_LENGTH=config.web.max_upload_mb * MEBIBYTE,
        PUBLIC_URL=config.web.public_url,
        LISTEN_HOST=config.web.host,
        GALLERY_PER_PAGE=12,
        # Built lazily, once per app, the first time a photo is uploaded without a booth.
        ANALYSER_FACTORY=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.json.sort_keys = False  # keep answers in the order they are written (error first)
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(app.config["DATA_DIR"])

    app.extensions["kiosk"] = KioskLink(app.config, booth)
    install_security(app)
    register_error_handlers(app)

    from device.labels import EXPRESSION_TITLES, expression_title
    from device.webui.blueprints import api, auth, gallery, live, look, photo
    from device.webui.blueprints._common import health_notices, local_time
    from device.words import how_many

    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(expression_title, "expression_title")
    app.add_template_global(EXPRESSION_TITLES, "expression_titles")
    app.add_template_global(how_many, "how_many")
    app.add_template_global(health_notices, "health_notices")

    for blueprint in (look.bp, live.bp, gallery.bp, photo.bp, api.bp, auth.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/", endpoint="index", view_func=look.edit)
    return app
