"""A real S3-protocol server for the storage tests: moto's standalone server (from the package registry)
as a subprocess on a free 127.0.0.1 port, once per session. The app reaches it like any S3-compatible
store, through S3_ENDPOINT_URL; each test gets a bucket of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

import pytest

START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto's S3 server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def s3_settings(endpoint: str) -> dict:
    return {"EVIDENCE_STORAGE": "s3", "S3_ENDPOINT_URL": endpoint,
            "S3_BUCKET": f"tracker-{uuid.uuid4().hex[:12]}", "S3_ACCESS_KEY": "tracker-test",
            "S3_SECRET_KEY": "tracker-test-secret", "S3_REGION": "us-east-1"}


@pytest.fixture
def s3(app, s3_server):
    """The app stores its files in a fresh bucket of the S3 server; returns the settings (for gunicorn)."""
    from tracker.storage import storage

    settings = s3_settings(s3_server)
    app.config.update(settings)
    storage().ensure_bucket()
    return settings


@pytest.fixture(params=["local", "s3"])
def each_storage(request, app):
    """Run a test once with the local folders and once with the S3 server."""
    return request.getfixturevalue("s3") if request.param == "s3" else {}
