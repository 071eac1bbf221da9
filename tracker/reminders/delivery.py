"""Delivery backends: SMTP, or .eml files in instance/outbox when no MAIL_SERVER is configured.

A backend opens once per outbox flush (one SMTP connection for the whole batch), sends
message after message, and tells temporary failures (retry later) from permanent ones.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, getaddresses
from pathlib import Path

from flask import current_app

# smtplib sends bytes as they are: the message must already end its lines in CRLF.
SMTP_LINES = compat32.clone(linesep="\r\n")


class TemporaryFailure(Exception):
    """Try again later: connection refused or lost, timeouts, 4xx replies."""


class PermanentFailure(Exception):
    """This message will never go through as it is: 5xx replies, an unusable address."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a notice's DOCX)."""

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


def _sender(value: str) -> Address:
    """MAIL_DEFAULT_SENDER as "Name <addr>" or a bare address."""
    name, addr = getaddresses([value or "tracker@localhost"])[0]
    return Address(display_name=name, addr_spec=addr or "tracker@localhost")


def build_message(notification, user, sender: str, attachments: tuple[Attachment, ...] = ()) -> Message:
    """A multipart/alternative email (text + HTML), UTF-8 headers for Chinese names and subjects;
    with attachments, that alternative part inside a multipart/mixed one, file names per RFC 2231.

    Built with the email package's compat32 classes: for a digest of 60 items they build and
    serialise in half the time of EmailMessage's policy machinery, with the same result on the wire.
    """
    try:
        to = Address(display_name=user.name or "", addr_spec=user.email.strip())
    except (ValueError, IndexError) as exc:
        raise PermanentFailure(f"unusable address {user.email!r}: {exc}") from exc
    origin = _sender(sender)
    msg = MIMEMultipart("mixed") if attachments else MIMEMultipart("alternative")
    msg["Subject"] = Header(notification.subject, "utf-8")
    msg["From"] = formataddr((origin.display_name, origin.addr_spec), charset="utf-8")
    msg["To"] = formataddr((to.display_name, to.addr_spec), charset="utf-8")
    msg["Date"] = formatdate(localtime=False)
    # Stable per notification: a resend after the documented crash window carries the same id,
    # so mail systems that deduplicate by Message-ID drop the repeat.
    key = hashlib.sha1(notification.dedupe_key.encode()).hexdigest()[:12]
    msg["Message-ID"] = f"<notification-{notification.id}-{key}@{origin.domain or 'localhost'}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Tracker-Notification"] = str(notification.id)
    text = MIMEText(notification.body_text, "plain", "utf-8")
    html = MIMEText(notification.body_html, "html", "utf-8")
    if not attachments:
        msg.attach(text)
        msg.attach(html)
        return msg
    body = MIMEMultipart("alternative")
    body.attach(text)
    body.attach(html)
    msg.attach(body)
    for item in attachments:
        maintype, _, subtype = item.mimetype.partition("/")
        part = MIMEApplication(item.content, _subtype=subtype or "octet-stream")
        if maintype != "application":
            part.replace_header("Content-Type", item.mimetype)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", item.filename))
        msg.attach(part)
    return msg


def _classify(exc: Exception) -> Exception:
    """Map an smtplib/socket error to TemporaryFailure or PermanentFailure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        temporary = all(400 <= c < 500 for c in codes)
        return (TemporaryFailure if temporary else PermanentFailure)(f"recipient refused: {exc.recipients}")
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
        return kind(f"{exc.smtp_code} {exc.smtp_error!r}")
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")


class SMTPBackend:
    """One SMTP session per flush; STARTTLS, implicit TLS and login as configured."""

    def __init__(self, config):
        self.config = config
        self.conn: smtplib.SMTP | None = None

    def describe(self) -> str:
        return f"smtp {self.config['MAIL_SERVER']}:{self.config['MAIL_PORT']}"

    def open(self) -> None:
        cfg = self.config
        timeout = cfg.get("MAIL_TIMEOUT", 30)
        try:
            if cfg.get("MAIL_USE_SSL"):
                conn = smtplib.SMTP_SSL(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout,
                                        context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
                if cfg.get("MAIL_USE_TLS"):
                    conn.starttls(context=ssl.create_default_context())
            if cfg.get("MAIL_USERNAME"):
                conn.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            # Whatever stops the session (refused, TLS, login) is retried: it is not the message's fault.
            raise TemporaryFailure(f"cannot connect to {self.describe()}: {exc}") from exc
        self.conn = conn

    def send(self, notification, user, attachments: tuple[Attachment, ...] = ()) -> str:
        if self.conn is None:
            self.open()
        msg = build_message(notification, user, self.config["MAIL_DEFAULT_SENDER"], attachments)
        try:
            self.conn.sendmail(_sender(self.config["MAIL_DEFAULT_SENDER"]).addr_spec, [user.email.strip()],
                               msg.as_bytes(policy=SMTP_LINES))
        except (OSError, smtplib.SMTPException) as exc:
            error = _classify(exc)
            if isinstance(error, TemporaryFailure):
                self.close()  # the session may be unusable; the next message reconnects
            raise error from exc
        return "smtp"

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class FileBackend:
    """Writes instance/outbox/<id>-<kind>.eml: the default when no MAIL_SERVER is configured."""

    def __init__(self, directory: Path, sender: str):
        self.directory = Path(directory)
        self.sender = sender

    def describe(self) -> str:
        return f"files in {self.directory}"

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, notification, user, attachments: tuple[Attachment, ...] = ()) -> str:
        self.open()
        msg = build_message(notification, user, self.sender, attachments)
        name = f"{notification.id}-{notification.kind.value}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, self.directory / name)  # a reader never sees half a file
        return f"file:{name}"

    def close(self) -> None:
        return None


def backend_for_app():
    """The configured backend: SMTP when MAIL_SERVER is set, files otherwise."""
    cfg = current_app.config
    if cfg.get("MAIL_SERVER"):
        return SMTPBackend(cfg)
    return FileBackend(Path(current_app.instance_path) / "outbox", cfg["MAIL_DEFAULT_SENDER"])
