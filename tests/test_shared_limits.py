"""Rate limits shared across processes (issue 15, item 3): with RATELIMIT_STORAGE_URI=redis://… the
login limit holds across two gunicorn masters (two "hosts", two workers each); with the default
memory:// store each process counts alone — the difference the shared store makes. Needs the local
Redis; skipped with the reason when none answers (PostgreSQL-style: a real server, never a fake)."""

from __future__ import annotations

import socket
import uuid

import pytest
from live_gunicorn import GunicornServer, hidden_inputs

REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wrong_logins(server: GunicornServer, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        client = server.client()
        page = client.get("/login")
        token = hidden_inputs(page.text).get("csrf_token", "") if page.status == 200 else ""
        statuses.append(client.post("/login", {"csrf_token": token, "username": "mgr_a",
                                               "password": "wrong"}).status)
    return statuses


def _hosts(app, store: str):
    config = {"RATELIMIT_ENABLED": "1", "LOGIN_RATE_LIMIT": "3/minute", "RATELIMIT_STORAGE_URI": store,
              "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"}
    return GunicornServer(app, **config), GunicornServer(app, **config)


@pytest.mark.skipif(not _redis_up(), reason="no Redis answers on 127.0.0.1:6379")
def test_the_login_limit_holds_across_two_hosts_with_redis(app, org):
    first, second = _hosts(app, "redis://127.0.0.1:6379/0")
    with first, second:
        statuses = _wrong_logins(first, 2) + _wrong_logins(second, 2)
    assert statuses == [200, 200, 200, 429], statuses


def test_without_a_shared_store_each_host_counts_alone(app, org):
    first, second = _hosts(app, "memory://")
    with first, second:
        statuses = _wrong_logins(first, 2) + _wrong_logins(second, 2)
    # Each host (and each of its workers) has its own count: no 429 for four attempts in all.
    assert 429 not in statuses, statuses
