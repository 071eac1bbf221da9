"""Rectification Tracker (整改台账)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from tracker import config as config_module


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory; reads defaults, then instance/config.py, then the environment."""
    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=os.environ.get("TRACKER_INSTANCE_PATH", str(root / "instance")),
        instance_relative_config=True,
        template_folder=str(root / "templates"),
    )
    app.config.from_mapping(config_module.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(config_module.from_environment())
    else:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + str(Path(app.instance_path) / "tracker.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    if app.config["DATABASE_URL"].startswith("postgresql"):
        # The scope clauses' OR EXISTS pushes cost estimates past jit_above_cost, and JIT
        # compilation then costs more than the short list queries themselves (bench: 20 of 27 ms).
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("options", "-c jit=off")
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    # Leave room for a multipart envelope around the largest allowed file(s).
    app.config["MAX_CONTENT_LENGTH"] = (app.config["UPLOAD_MAX_MB"] * 5 + 1) * 1024 * 1024
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]

    from tracker import web
    web.init_app(app)
    return app
