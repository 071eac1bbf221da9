"""Storing and checking evidence files (佐证材料) under instance/uploads."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from tracker.errors import ValidationFailed
from tracker.i18n import lazy_gettext as _l

CHUNK = 64 * 1024


@dataclass
class Upload:
    """A file handed to a service: its client-side name and a readable stream."""

    filename: str
    stream: BinaryIO
    content_type: str | None = None


def upload_dir() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_filename(name: str) -> str:
    """Keep the user's (often Chinese) name for display, minus any path and control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    return name[:200] or "file"


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def check_upload(upload: Upload, field: str = "files") -> str:
    """Return the cleaned name or raise ValidationFailed naming the file."""
    name = clean_filename(upload.filename or "")
    allowed = current_app.config["UPLOAD_EXTENSIONS"]
    if extension_of(name) not in allowed:
        raise ValidationFailed(
            _l("%(name)s: this file type is not accepted. Accepted: %(types)s",
               name=name, types=", ".join(sorted(allowed))),
            {field: [_l("File type not accepted.")]},
        )
    return name


def store(upload: Upload, field: str = "files") -> dict:
    """Write the stream to a new file, enforcing the size limit while copying.

    Returns the column values for an Evidence row. On any error the partial file is removed.
    """
    name = check_upload(upload, field)
    limit = current_app.config["UPLOAD_MAX_MB"] * 1024 * 1024
    stored_name = uuid.uuid4().hex + "." + extension_of(name)
    target = upload_dir() / stored_name
    digest = hashlib.sha256()
    size = 0
    try:
        with open(target, "wb") as out:
            while chunk := upload.stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValidationFailed(
                        _l("%(name)s is larger than %(mb)s MB.", name=name,
                           mb=current_app.config["UPLOAD_MAX_MB"]),
                        {field: [_l("File too large.")]},
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise ValidationFailed(_l("%(name)s is empty.", name=name), {field: [_l("Empty file.")]})
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {
        "filename": name,
        "stored_name": stored_name,
        "content_type": content_type,
        "size": size,
        "sha256": digest.hexdigest(),
    }


def path_of(stored_name: str) -> Path:
    return upload_dir() / os.path.basename(stored_name)


def discard(stored_names: list[str]) -> None:
    """Remove files written for a transaction that did not commit."""
    for name in stored_names:
        path_of(name).unlink(missing_ok=True)
