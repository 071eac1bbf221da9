"""Imports flow one way (STYLE §2), app set-up is repeatable, and rules keep no request state in `g`."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from flask import g
from sqlalchemy.orm import Session

from tracker import create_app, refdata
from tracker.extensions import db
from tracker.reminders import services as reminder_services

ROOT = Path(__file__).resolve().parent.parent / "tracker"
# What serves HTTP or the command line: the top of the house. Nothing below may import it.
WEB = ("tracker.web", "tracker.viewutils", "tracker.cli", "tracker.api")


def _is_web(module: str) -> bool:
    return any(module == top or module.startswith(top + ".") for top in WEB) or module.endswith(
        (".views", ".cli"))


def _imports(path: Path):
    """(module, line, inside a function) of every `tracker…` import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tracker"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            for name in [node.module, *names]:
                yield name, node.lineno, id(node) in nested
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("tracker"):
                    yield a.name, node.lineno, id(node) in nested


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")


def test_nothing_below_the_web_layer_imports_views_api_or_cli():
    wrong = []
    for path in ROOT.rglob("*.py"):
        module = _module(path)
        if _is_web(module) or module == "tracker":
            continue
        wrong += [f"{module}:{line} imports {name}" for name, line, _ in _imports(path) if _is_web(name)]
    assert wrong == []


def test_tracker_modules_import_at_the_top():
    # The factory imports the wiring when called (as flaskr does); zxcvbn is a third-party import.
    inside = [f"{_module(path)}:{line} {name}" for path in ROOT.rglob("*.py")
              for name, line, nested in _imports(path) if nested and _module(path) != "tracker"]
    assert inside == []


def test_two_apps_do_not_register_the_session_listeners_twice(app, tmp_path):
    def listeners():
        return [getattr(fn, "__name__", repr(fn)) for fn in Session.dispatch.after_commit._clslevel[Session]]

    before = listeners()
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "other")
    try:
        for _ in range(2):
            create_app({"TESTING": True, "DATABASE_URL": app.config["DATABASE_URL"]})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]
    assert listeners() == before
    assert before.count("_files_committed") == 1


def test_the_per_request_reads_live_in_the_session_not_in_flask_g(app, org):
    with app.test_request_context():
        stamp = refdata.current_stamp()
        unread = reminder_services.unread_count(org.staff_a)
        assert db.session.info[refdata.STAMP] == stamp and db.session.info[reminder_services.UNREAD] == unread
        assert "reference_stamp" not in g and "unread_notifications" not in g
        org.a1.name = "改名的支部"
        db.session.flush()  # a pick list changed: the stamp read before is dropped with it
        assert refdata.STAMP not in db.session.info
        assert refdata.current_stamp() != stamp


@pytest.mark.parametrize("name", ["tracker.api.tokens", "tracker.api.models", "tracker.api.cli",
                                  "tracker.api.forms", "tracker.api.auth"])
def test_token_code_is_no_longer_part_of_the_api(name):
    with pytest.raises(ModuleNotFoundError):
        __import__(name)


def _sources():
    return {path: path.read_text(encoding="utf-8") for path in ROOT.rglob("*.py")}


def test_links_are_built_by_url_for_not_by_hand():
    # e.g. f"{request.script_root}/sources/new" went on working after the route moved or was renamed
    assert [p.name for p, text in _sources().items() if "script_root}/" in text] == []


def test_no_fallbacks_for_endpoints_that_always_exist():
    # Every blueprint is registered by create_app: a BuildError is a bug to see, not to paper over.
    assert [p.name for p, text in _sources().items() if "BuildError" in text] == []
