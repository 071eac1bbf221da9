"""Each robot's wire format, signature, limits and answers, as its vendor documents them.

- 企业微信 group robot: POST …/cgi-bin/webhook/send?key=KEY, {"msgtype": "markdown"}; content at most
  4096 bytes; 20 messages a minute; success {"errcode": 0}, 45009 when sent too fast.
- 钉钉 custom robot with 加签: …/robot/send?access_token=T&timestamp=MS&sign=S where S is
  urlencode(base64(HMAC-SHA256(key=secret, msg="MS\\nsecret"))); 20 a minute (130101 when exceeded,
  then throttled for ten minutes); 310000 for a bad signature.
- 飞书 custom bot with 签名校验: "timestamp" (seconds) and "sign" = base64(HMAC-SHA256(key="TS\\nsecret",
  msg="")) in the body; 100 a minute and 5 a second; a body of at most 20 KB; 19021 for a bad
  signature, 11232 when sent too fast; success {"code": 0} (older deployments: {"StatusCode": 0}).
- Generic webhook: the JSON payload (README "Channels") with X-Tracker-Timestamp and
  X-Tracker-Signature: sha256=hex(HMAC-SHA256(secret, "TIMESTAMP." + body)); any 2xx is success.

An answer with an error code is a failure, never a success: rate limits and server trouble are
temporary (retried with back-off), everything else permanent (kept as failed on /admin/outbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from flask import current_app

from tracker.channels.models import ChannelKind
from tracker.reminders.delivery import PermanentFailure, TemporaryFailure

TIMEOUT = (5, 15)  # connect, read (seconds)


class RateLimited(TemporaryFailure):
    """The robot refused for sending too fast: the channel's other messages wait too."""


@dataclass
class Message:
    """What one request carries: a title, Markdown text, and structured data for the webhook."""

    title: str
    text: str
    data: dict = field(default_factory=dict)
    kind: str = "message"
    ids: tuple[int, ...] = ()  # the outbox rows it delivers


@dataclass(frozen=True)
class Robot:
    kind: ChannelKind
    max_bytes: int  # of the Markdown text as the robot counts it
    per_minute: int
    hosts: tuple[str, ...]
    needs_secret: bool
    example: str

    # --- the request ---------------------------------------------------------------------------

    def request(self, url: str, secret: str | None, message: Message, *, delivery: str = "",
                now: float | None = None) -> tuple[str, bytes, dict]:
        """(url, body, headers) of one POST."""
        now = time.time() if now is None else now
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.kind == ChannelKind.WECOM:
            payload = {"msgtype": "markdown", "markdown": {"content": self.text(message)}}
        elif self.kind == ChannelKind.DINGTALK:
            payload = {"msgtype": "markdown",
                       "markdown": {"title": message.title, "text": self.text(message)}}
            if secret:
                ts = str(int(now * 1000))
                url += ("&" if "?" in url else "?") + urlencode({"timestamp": ts,
                                                                 "sign": dingtalk_sign(ts, secret)})
        elif self.kind == ChannelKind.FEISHU:
            payload = {"msg_type": "interactive", "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": message.title}, "template": "orange"},
                "elements": [{"tag": "markdown", "content": self.text(message)}]}}
            if secret:
                ts = str(int(now))
                payload = {"timestamp": ts, "sign": feishu_sign(ts, secret), **payload}
        else:
            payload = {"delivery": delivery, "kind": message.kind, "title": message.title,
                       "text": message.text, **message.data}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if self.kind == ChannelKind.WEBHOOK:
            ts = str(int(now))
            headers["X-Tracker-Timestamp"] = ts
            headers["X-Tracker-Delivery"] = delivery
            if secret:
                headers["X-Tracker-Signature"] = "sha256=" + webhook_sign(ts, body, secret)
        return url, body, headers

    def text(self, message: Message) -> str:
        """The Markdown as this robot shows it (钉钉 needs blank lines to break a line)."""
        if self.kind == ChannelKind.WECOM:
            return f"**{message.title}**\n{message.text}"
        if self.kind == ChannelKind.DINGTALK:
            return f"#### {message.title}\n\n" + message.text.replace("\n", "\n\n")
        return message.text

    def size(self, title: str, text: str) -> int:
        return len(self.text(Message(title, text)).encode())

    # --- the answer ----------------------------------------------------------------------------

    def outcome(self, status: int, body: bytes) -> str:
        """A note on success; raises TemporaryFailure / RateLimited / PermanentFailure otherwise."""
        if status == 429:
            raise RateLimited(f"HTTP 429 {_short(body)}")
        if status >= 500 or status == 408:
            raise TemporaryFailure(f"HTTP {status} {_short(body)}")
        if 300 <= status < 400:
            raise PermanentFailure(f"HTTP {status}: redirects are not followed")
        if self.kind == ChannelKind.WEBHOOK:
            if 200 <= status < 300:
                return f"webhook HTTP {status}"
            raise PermanentFailure(f"HTTP {status} {_short(body)}")
        if status != 200:
            raise PermanentFailure(f"HTTP {status} {_short(body)}")
        try:
            answer = json.loads(body or b"{}")
        except ValueError as exc:
            raise TemporaryFailure(f"unreadable answer: {_short(body)}") from exc
        if not isinstance(answer, dict):
            raise TemporaryFailure(f"unreadable answer: {_short(body)}")
        if self.kind == ChannelKind.FEISHU:
            code = answer.get("code", answer.get("StatusCode"))
            text = answer.get("msg", answer.get("StatusMessage", ""))
        else:
            code, text = answer.get("errcode"), answer.get("errmsg", "")
        if code == 0:
            return f"{self.kind.value} ok"
        error = f"{self.kind.value} error {code}: {text}"
        if code in RATE_LIMIT_CODES[self.kind]:
            raise RateLimited(error)
        if code in BUSY_CODES or code is None:
            raise TemporaryFailure(error)
        raise PermanentFailure(error)

    # --- the address ---------------------------------------------------------------------------

    def check_url(self, url: str) -> str | None:
        """Why this address cannot be used (a sentence for the form), or None."""
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 -- raises on a port that is not a number
        except ValueError:
            return "scheme"
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return "scheme"
        allowed = allowed_hosts()
        listed = parts.netloc.lower() in allowed or (parts.hostname or "").lower() in allowed
        if self.kind != ChannelKind.WEBHOOK:
            if not listed and (parts.hostname.lower() not in self.hosts or parts.scheme != "https"):
                return "host"
            query = parse_qs(parts.query)
            if self.kind == ChannelKind.WECOM and not query.get("key"):
                return "shape"
            if self.kind == ChannelKind.DINGTALK and not query.get("access_token"):
                return "shape"
            if self.kind == ChannelKind.FEISHU and "/bot/v2/hook/" not in parts.path:
                return "shape"
            return None
        if listed:
            return None
        return "private" if not public_host(parts.hostname) else None


def _short(body: bytes) -> str:
    return (body or b"")[:200].decode("utf-8", "replace")


def dingtalk_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_sign(timestamp: str, body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def allowed_hosts() -> set[str]:
    """CHANNEL_ALLOWED_HOSTS: extra hosts (or host:port) a channel may post to, e.g. a private
    企业微信 deployment or an intranet webhook receiver."""
    value = current_app.config.get("CHANNEL_ALLOWED_HOSTS") or ""
    items = value if isinstance(value, list | tuple | set) else value.split(",")
    return {h.strip().lower() for h in items if h.strip()}


def public_host(host: str) -> bool:
    """Every address the host resolves to is a public one: a webhook is no way into the intranet."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)


def url_hint(url: str) -> str:
    """What pages show of a saved address: its host and the last four characters."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return f"…{url.strip()[-4:]}"
    return f"{parts.scheme}://{parts.netloc}/…{url.strip()[-4:]}"[:120]


RATE_LIMIT_CODES = {
    ChannelKind.WECOM: {45009},
    ChannelKind.DINGTALK: {130101},
    ChannelKind.FEISHU: {11232},
    ChannelKind.WEBHOOK: set(),
}
BUSY_CODES = {-1}  # 系统繁忙 (企业微信, 钉钉)

ROBOTS = {
    ChannelKind.WECOM: Robot(ChannelKind.WECOM, 4096, 20, ("qyapi.weixin.qq.com",), False,
                             "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"),
    ChannelKind.DINGTALK: Robot(ChannelKind.DINGTALK, 18000, 20, ("oapi.dingtalk.com",), True,
                                "https://oapi.dingtalk.com/robot/send?access_token=…"),
    ChannelKind.FEISHU: Robot(ChannelKind.FEISHU, 18000, 100, ("open.feishu.cn", "open.larksuite.com"), True,
                              "https://open.feishu.cn/open-apis/bot/v2/hook/…"),
    ChannelKind.WEBHOOK: Robot(ChannelKind.WEBHOOK, 60000, 60, (), True, "https://…"),
}


def robot(kind: ChannelKind) -> Robot:
    return ROBOTS[kind]


def split_lines(head: str, lines: list[str], fits) -> list[str]:
    """`head` then as many lines as `fits(text)` allows per part; no line is dropped (a line too long
    for any part is cut with an ellipsis)."""
    parts, current = [], head
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if fits(candidate):
            current = candidate
            continue
        if current and current != head:
            parts.append(current)
            current = f"{head}\n{line}" if head else line
        if not fits(current):
            cut = line
            while cut and not fits(f"{head}\n{cut}…" if head else f"{cut}…"):
                cut = cut[:-max(1, len(cut) // 10)]
            current = (f"{head}\n{cut}…" if head else f"{cut}…")
    if current and (current != head or not parts):
        parts.append(current)
    return parts


def quote_link(url: str) -> str:
    """A link usable inside Markdown's (…) whatever it holds."""
    return quote(url, safe=":/?&=#%~.-_+,;@!$'*")
