"""Local stand-ins (127.0.0.1) for the robots' webhook endpoints, written from the vendors' documents
and independently of tracker.channels: each checks the signature as its service does and answers
with the service's own success and error bodies.

- 企业微信: /cgi-bin/webhook/send?key=K; unknown key 93000; markdown.content over 4096 bytes 40058;
  over the limit a minute 45009.
- 钉钉: /robot/send?access_token=T&timestamp=MS&sign=S; S = base64(HMAC-SHA256(secret, "MS\\nsecret"));
  a timestamp more than an hour off or a wrong sign 310000; over the limit 130101.
- 飞书: /open-apis/bot/v2/hook/T with "timestamp" and "sign" (HMAC-SHA256 keyed by "TS\\nsecret" over
  nothing) in the body; 19021 for a bad sign; a body over 20 KB 9499; over the limit 11232.
- webhook: /hook/NAME with X-Tracker-Signature = sha256=hex(HMAC(secret, TS + "." + body)); 401 when wrong.

`script(n, answer)` makes the next n requests get `answer` (status, body) instead: rate limits, server
trouble. `per_minute` (real time) turns the services' own limits on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN, DING_SECRET = "a1b2c3d4e5f6", "SEC7f3a9c1b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"
FEISHU_TOKEN, FEISHU_SECRET = "7d1c2b3a-0000-4a4a-9b9b-feishu0001", "fs-secret-qwerty-2026"
HOOK_NAME, HOOK_SECRET = "ledger", "whsec-0d9f8e7c6b5a"

OK_ERRCODE = {"errcode": 0, "errmsg": "ok"}
FEISHU_OK = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
WECOM_TOO_FAST = {"errcode": 45009, "errmsg": "api freq out of limit"}
DING_TOO_FAST = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
FEISHU_TOO_FAST = {"code": 11232, "data": {}, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}
WECOM_BAD_KEY = {"errcode": 93000, "errmsg": "invalid webhook url"}


@dataclass
class Received:
    kind: str
    payload: dict
    headers: dict
    at: float

    @property
    def text(self) -> str:
        if self.kind == "wecom":
            return self.payload["markdown"]["content"]
        if self.kind == "dingtalk":
            return self.payload["markdown"]["text"]
        if self.kind == "feishu":
            return self.payload["card"]["elements"][0]["content"]
        return self.payload["text"]

    @property
    def title(self) -> str:
        if self.kind == "feishu":
            return self.payload["card"]["header"]["title"]["content"]
        if self.kind == "dingtalk":
            return self.payload["markdown"]["title"]
        if self.kind == "webhook":
            return self.payload["title"]
        return self.payload["markdown"]["content"].split("\n", 1)[0].strip("*")


@dataclass
class Receivers:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, dict]] = field(default_factory=list)
    per_minute: int | None = None
    scripted: list[tuple[int, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _times: dict = field(default_factory=dict)

    def url(self, kind: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {"wecom": f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}",
                "dingtalk": f"{base}/robot/send?access_token={DING_TOKEN}",
                "feishu": f"{base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
                "webhook": f"{base}/hook/{HOOK_NAME}"}[kind]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def script(self, n: int, answer: tuple[int, dict]) -> None:
        with self.lock:
            self.scripted.extend([answer] * n)

    def of(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.kind == kind]

    # --- what each service does with a request ----------------------------------------------------

    def handle(self, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, dict]:
        kind = ("wecom" if path == "/cgi-bin/webhook/send" else "dingtalk" if path == "/robot/send"
                else "feishu" if path.startswith("/open-apis/bot/v2/hook/") else
                "webhook" if path.startswith("/hook/") else None)
        if kind is None:
            return 404, {"error": "not found"}
        with self.lock:
            if self.scripted:
                answer = self.scripted.pop(0)
                self.refused.append((kind, {"scripted": answer}))
                return answer
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"errcode": 40001, "errmsg": "invalid json"}
        check = getattr(self, f"_{kind}")(path, query, headers, body, payload)
        if check is not None:
            self.refused.append((kind, check[1]))
            return check
        if self.per_minute is not None:
            with self.lock:
                recent = [t for t in self._times.get(kind, []) if t > time.time() - 60]
                if len(recent) >= self.per_minute:
                    answer = {"wecom": WECOM_TOO_FAST, "dingtalk": DING_TOO_FAST,
                              "feishu": FEISHU_TOO_FAST}.get(kind)
                    return (200, answer) if answer else (429, {"error": "too many requests"})
                self._times[kind] = [*recent, time.time()]
        with self.lock:
            self.received.append(Received(kind, payload, headers, time.time()))
        return 200, (FEISHU_OK if kind == "feishu" else {"ok": True} if kind == "webhook" else OK_ERRCODE)

    def _wecom(self, path, query, headers, body, payload):
        if query.get("key") != [WECOM_KEY]:
            return 200, WECOM_BAD_KEY
        if payload.get("msgtype") != "markdown":
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(payload["markdown"]["content"].encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        return None

    def _dingtalk(self, path, query, headers, body, payload):
        if query.get("access_token") != [DING_TOKEN]:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        if not timestamp.isdigit() or abs(int(timestamp) / 1000 - time.time()) > 3600:
            return 200, {"errcode": 310000, "errmsg": "sign not match, more: timestamp is over 1 hour"}
        expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()
        if sign != expected:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        if payload.get("msgtype") != "markdown" or not payload["markdown"].get("title"):
            return 200, {"errcode": 40035, "errmsg": "missing markdown title"}
        return None

    def _feishu(self, path, query, headers, body, payload):
        if path.rsplit("/", 1)[-1] != FEISHU_TOKEN:
            return 200, {"code": 19001, "data": {},
                         "msg": "param invalid: incoming webhook access token invalid"}
        if len(body) > 20 * 1024:
            return 200, {"code": 9499, "data": {}, "msg": "Bad Request"}
        timestamp, sign = str(payload.get("timestamp", "")), payload.get("sign", "")
        key = f"{timestamp}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 3600 or sign != expected:
            return 200, {"code": 19021, "data": {},
                         "msg": "sign match fail or timestamp is not within one hour from current time"}
        return None

    def _webhook(self, path, query, headers, body, payload):
        timestamp = headers.get("x-tracker-timestamp", "")
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("x-tracker-signature", ""), expected):
            return 401, {"error": "bad signature"}
        return None


def _handler(receivers: Receivers):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            query = {k: [unquote(x) for x in v] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = receivers.handle(parts.path, query, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receivers(app):
    """The four robot endpoints on one local port; the app may post to it (CHANNEL_ALLOWED_HOSTS)."""
    found = Receivers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["CHANNEL_ALLOWED_HOSTS"] = found.host
    yield found
    server.shutdown()
    server.server_close()
