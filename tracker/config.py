"""Configuration defaults; overridden by instance/config.py and then by the environment."""

import os

# Settings whose values are read from the environment, with the type to coerce to.
ENV_SETTINGS: dict[str, type] = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "SQLITE_JOURNAL_MODE": str,
    "SQLITE_SYNCHRONOUS": str,
    "TIMEZONE": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USE_TLS": bool,
    "MAIL_USE_SSL": bool,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_DEFAULT_SENDER": str,
    "DUE_SOON_DAYS": int,
    "ESCALATE_AFTER_DAYS": int,
    "ACK_WITHIN_DAYS": int,
    "ACK_ESCALATE_AFTER_DAYS": int,
    "STALL_DAYS": int,
    "NOTICE_REPLY_DAYS": int,
    "NOTICE_ESCALATE_AFTER_DAYS": int,
    "WEEKLY_DIGEST_CRON": str,
    "SCHEDULER_ENABLED": bool,
    "UPLOAD_MAX_MB": int,
    "BASE_URL": str,
    "ALLOW_SELF_VERIFY": bool,
    "EVIDENCE_REQUIRED_ON_SUBMIT": bool,
    "PER_PAGE": int,
    "LIST_COUNT_LIMIT": int,
    "DASHBOARD_CACHE_SECONDS": int,
    "DASHBOARD_CACHE_MIN_MS": int,
    "LEDGER_IMPORT_MAX_BYTES": int,
    "LEDGER_IMPORT_MAX_ROWS": int,
    "LEDGER_IMPORT_MAX_CELLS": int,
    "LEDGER_JOB_WORKERS": int,
    "LEDGER_JOB_STALE_SECONDS": int,
    "LEDGER_JOB_HEARTBEAT_SECONDS": int,
    "LEDGER_JOB_MAX_ATTEMPTS": int,
    "LEDGER_JOB_MAX_OPEN": int,
    "PASSWORD_HASH_METHOD": str,
    "REMINDER_INTERVAL_SECONDS": int,
    "OUTBOX_FLUSH_SECONDS": int,
    "OUTBOX_MAX_ATTEMPTS": int,
    "OUTBOX_BACKOFF_CAP_MINUTES": int,
    "OUTBOX_SENDING_TIMEOUT_SECONDS": int,
    "SCHEDULER_TICK_SECONDS": int,
    "SCHEDULER_LEASE_SECONDS": int,
    "DIGEST_GRACE_HOURS": int,
    "MAIL_TIMEOUT": int,
    "LOG_FORMAT": str,
    "LOG_LEVEL": str,
    "LOGIN_RATE_LIMIT": str,
    "API_RATE_LIMIT": str,
    "RATELIMIT_STORAGE_URI": str,
    "RATELIMIT_KEY_PREFIX": str,
    "RATELIMIT_ENABLED": bool,
    "PROXY_FIX_X_FOR": int,
    "PASSWORD_MIN_SCORE": int,
    "SESSION_IDLE_HOURS": int,
    "REMEMBER_DAYS": int,
    "SESSION_PROTECTION": str,
    "HSTS_SECONDS": int,
    "API_AUTH_FAIL_LIMIT": str,
    "HEALTH_TOKEN": str,
    "CHANNEL_ALLOWED_HOSTS": str,
    "EVIDENCE_STORAGE": str,
    "S3_ENDPOINT_URL": str,
    "S3_BUCKET": str,
    "S3_ACCESS_KEY": str,
    "S3_SECRET_KEY": str,
    "S3_REGION": str,
    "S3_PREFIX": str,
    "CHANNEL_SECRET_KEY": str,
    "CHANNEL_DAILY_HOUR": int,
}

DEFAULTS = {
    "SECRET_KEY": "dev-only-change-me",
    "DATABASE_URL": None,  # filled in from the instance path
    "TIMEZONE": "Asia/Shanghai",
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_DEFAULT_SENDER": "tracker@localhost",
    "DUE_SOON_DAYS": 3,
    "ESCALATE_AFTER_DAYS": 7,
    # 签收: the owner is reminded after ACK_WITHIN_DAYS without it, the unit's managers after
    # ACK_ESCALATE_AFTER_DAYS.
    "ACK_WITHIN_DAYS": 2,
    "ACK_ESCALATE_AFTER_DAYS": 4,
    # A measure being worked on with no progress note for STALL_DAYS is stalled (the leader's desk, a
    # 提醒函's proposal and its yellow colour). A notice's reply is due NOTICE_REPLY_DAYS after issue by
    # default; a reply still missing NOTICE_ESCALATE_AFTER_DAYS after its deadline is escalated to the
    # issuing unit's managers.
    "STALL_DAYS": 14,
    "NOTICE_REPLY_DAYS": 5,
    "NOTICE_ESCALATE_AFTER_DAYS": 3,
    "WEEKLY_DIGEST_CRON": "0 9 * * mon",
    "SCHEDULER_ENABLED": False,
    "UPLOAD_MAX_MB": 20,
    "BASE_URL": "http://127.0.0.1:5000",
    "ALLOW_SELF_VERIFY": False,
    "EVIDENCE_REQUIRED_ON_SUBMIT": False,
    "PER_PAGE": 50,
    # Lists count their matches up to this many (and ten pages past the one shown); beyond, the pager
    # says "more than N" (tracker.pagination): the count no longer grows with the table.
    "LIST_COUNT_LIMIT": 1000,
    # Dashboard figures that took DASHBOARD_CACHE_MIN_MS or more to count (a province's root) are kept in
    # the database and served for DASHBOARD_CACHE_SECONDS with their age shown (tracker.dashboard.snapshots);
    # 0 seconds: always count them live.
    "DASHBOARD_CACHE_SECONDS": 300,
    "DASHBOARD_CACHE_MIN_MS": 500,
    # SQLite only: WAL lets readers run while one writer commits; NORMAL fsyncs at checkpoints.
    "SQLITE_JOURNAL_MODE": "WAL",
    "SQLITE_SYNCHRONOUS": "NORMAL",
    "PROXY_FIX_X_FOR": 0,  # number of trusted reverse proxies in front of the app
    "LEDGER_IMPORT_MAX_BYTES": 5 * 1024 * 1024,
    "LEDGER_IMPORT_MAX_ROWS": 20000,
    # Filled cells of one imported workbook (20,000 rows of 15 columns); the unpacked-size, row,
    # shared-string and merged-range limits of tracker.ledger.package follow from it.
    "LEDGER_IMPORT_MAX_CELLS": 300000,
    # A ledger's check and import run as jobs (tracker.ledger.jobs) on threads of the web process that
    # queued them: LEDGER_JOB_WORKERS per process (None: 2, and 0 under TESTING, where tests run them).
    # A running job beats every LEDGER_JOB_HEARTBEAT_SECONDS; one silent for LEDGER_JOB_STALE_SECONDS
    # (its process ended) is run again, up to LEDGER_JOB_MAX_ATTEMPTS runs, then failed with the reason.
    # A user may have LEDGER_JOB_MAX_OPEN jobs waiting or running.
    "LEDGER_JOB_WORKERS": None,
    "LEDGER_JOB_STALE_SECONDS": 60,
    "LEDGER_JOB_HEARTBEAT_SECONDS": 5,
    "LEDGER_JOB_MAX_ATTEMPTS": 2,
    "LEDGER_JOB_MAX_OPEN": 3,
    "PASSWORD_HASH_METHOD": "scrypt",
    # zxcvbn's 0-4 scale: 3 means about 10^8 guesses or more (no common password, no name or unit).
    "PASSWORD_MIN_SCORE": 3,
    # A login without "remember me" ends after this long without a request; one with it after
    # REMEMBER_DAYS (the remember cookie's lifetime). Logout and a new password end either at once.
    "SESSION_IDLE_HOURS": 12,
    "REMEMBER_DAYS": 30,
    # Flask-Login: "strong" drops a session whose client address or browser changed.
    "SESSION_PROTECTION": "strong",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "HSTS_SECONDS": 365 * 24 * 3600,  # Strict-Transport-Security on answers served over TLS; 0: none
    "API_AUTH_FAIL_LIMIT": "20/minute",  # failed bearer authentications per client address
    "HEALTH_TOKEN": "",  # shows /healthz's details to monitors that send it
    # Files (evidence, ledger imports waiting for confirmation, the notice template): "local" folders
    # under instance/, or "s3": any S3-compatible store (MinIO, Ceph, a cloud's), which every host shares.
    "EVIDENCE_STORAGE": "local",
    "S3_ENDPOINT_URL": "",
    "S3_BUCKET": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_REGION": "us-east-1",
    "S3_PREFIX": "",
    # Unit channels (group robots, webhooks): hosts (or host:port) beyond the robots' own that a channel
    # may post to, comma-separated: a private 企业微信 deployment, an intranet webhook receiver. Private
    # and loopback addresses are refused unless listed here.
    "CHANNEL_ALLOWED_HOSTS": "",
    # Encrypts the channels' addresses and secrets at rest; SECRET_KEY when empty.
    "CHANNEL_SECRET_KEY": "",
    "CHANNEL_DAILY_HOUR": 9,  # each unit channel's daily summary leaves from this hour (TIMEZONE)
    # Evidence types people actually attach: scans, photos, office documents, archives.
    "UPLOAD_EXTENSIONS": {
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et", "ofd",
        "txt", "csv", "jpg", "jpeg", "png", "gif", "bmp", "zip", "rar", "7z",
    },
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": {"zh_CN": "中文", "en": "English"},
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # Logs: "text" (one readable line) or "json" (one JSON object per line); the root level.
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    # A fixed "now" (ISO datetime) for demos and tests; None means the real clock.
    "NOW": None,
}

_TRUE = {"1", "true", "yes", "on"}


def from_environment() -> dict:
    """Read the known settings from the environment, coerced to their types."""
    found = {}
    for name, kind in ENV_SETTINGS.items():
        raw = os.environ.get(name)
        if raw is None or raw == "":
            continue
        if kind is bool:
            found[name] = raw.strip().lower() in _TRUE
        elif kind is int:
            found[name] = int(raw)
        else:
            found[name] = raw
    return found
