"""Checking and storing evidence files (佐证材料) in the app's store (tracker.storage: instance/uploads,
or S3 with EVIDENCE_STORAGE=s3), and serving them back as attachments."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from flask import Response, abort, current_app, send_file

from tracker.errors import ValidationFailed
from tracker.i18n import lazy_gettext as _l
from tracker.storage import storage

CHUNK = 64 * 1024
log = logging.getLogger(__name__)


@dataclass
class Upload:
    """A file handed to a service: its client-side name and a readable stream."""

    filename: str
    stream: BinaryIO
    content_type: str | None = None


def upload_dir() -> Path:
    """The local evidence folder (EVIDENCE_STORAGE=local)."""
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


MAX_NAME = 120  # characters of a stored name; a longer stem is shortened, the extension kept
MAX_EXTENSION = 16
DEFAULT_STEM = "佐证材料"
# Control (Cc), format (Cf: zero-width spaces and joiners, BOM, bidirectional overrides that make
# "exe.pdf" read as "fdp.exe"), surrogates, private use and unassigned code points, line separators.
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._\- ]+")


def _visible(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED)
    # Other spaces (ideographic, no-break, …) become one plain space; runs of spaces one space.
    return " ".join(text.split())


def split_name(name: str) -> tuple[str, str]:
    """(stem, extension) of a client's file name after cleaning; the extension is the real last one
    ("report.pdf.exe" → exe), "" when there is none. The stem may be empty (".pdf", "\u200b.pdf")."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _visible(name).rstrip(". ")  # Windows drops trailing dots and spaces; so do we
    if "." not in name:
        return name.strip(". "), ""
    stem, extension = name.rsplit(".", 1)
    return stem.strip(". "), extension.strip()


def clean_filename(name: str) -> str:
    """The name kept for display and download: NFC, without control or invisible characters, trimmed,
    a long stem shortened (the extension kept); a stem that is empty after cleaning is 佐证材料."""
    stem, extension = split_name(name)
    if not extension:
        return stem[:MAX_NAME]
    stem = stem or DEFAULT_STEM
    room = MAX_NAME - len(extension) - 1
    if len(stem) > room:
        stem = stem[:max(room - 1, 1)].rstrip(". ") + "…"
    return f"{stem}.{extension}"


def extension_of(name: str) -> str:
    return split_name(name)[1].lower()


def check_upload(upload: Upload, field: str = "files") -> str:
    """Return the cleaned name or raise ValidationFailed naming the file: a name problem (nothing left of
    it, no extension) is told apart from a type problem (an extension that is not accepted)."""
    stem, extension = split_name(upload.filename or "")
    if not stem and not extension:
        raise ValidationFailed(
            _l("A file has no usable name (it is empty or made of invisible characters). Rename it, for "
               "example 整改报告.pdf, and upload it again."),
            {field: [_l("The file name is empty.")]},
        )
    name = clean_filename(upload.filename or "")
    if not extension:
        raise ValidationFailed(
            _l("%(name)s: the file name has no extension (such as .pdf or .docx), so its type is unknown. "
               "Add the extension to the name and upload it again.", name=name),
            {field: [_l("The file name has no extension.")]},
        )
    allowed = current_app.config["UPLOAD_EXTENSIONS"]
    if len(extension) > MAX_EXTENSION or extension.lower() not in allowed:
        raise ValidationFailed(
            _l("%(name)s: files of type .%(ext)s are not accepted. Accepted: %(types)s",
               name=name, ext=extension.lower()[:MAX_EXTENSION], types=", ".join(sorted(allowed))),
            {field: [_l("File type not accepted.")]},
        )
    return name


def content_disposition(filename: str) -> str:
    """`attachment` with the name as RFC 5987 `filename*` (UTF-8) and an ASCII `filename` for old
    clients: the name's ASCII letters, else file.<ext>."""
    stem, extension = split_name(filename)
    extension = _ASCII_SAFE.sub("", extension.lower())
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    plain = " ".join(_ASCII_SAFE.sub(" ", plain).split()).strip(". ") or "file"
    fallback = f"{plain}.{extension}" if extension else plain
    quoted = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def store(upload: Upload, field: str = "files") -> dict:
    """Write the stream to a new file, enforcing the size limit while copying.

    Returns the column values for an Evidence row. On any error the partial file is removed.
    """
    name = check_upload(upload, field)
    limit = current_app.config["UPLOAD_MAX_MB"] * 1024 * 1024
    stored_name = uuid.uuid4().hex + "." + extension_of(name)
    store_ = storage()
    target = store_.scratch() / f".{stored_name}.part"
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
    try:
        store_.put_file("evidence", stored_name, target, sha256=digest.hexdigest(), content_type=content_type)
    finally:
        target.unlink(missing_ok=True)
    return {
        "filename": name,
        "stored_name": stored_name,
        "content_type": content_type,
        "size": size,
        "sha256": digest.hexdigest(),
    }


def path_of(stored_name: str) -> Path:
    """A file's place in the local store (EVIDENCE_STORAGE=local)."""
    return upload_dir() / os.path.basename(stored_name)


def send_stored(stored_name: str, filename: str, content_type: str | None, sha256: str | None = None):
    """A stored file as an attachment under its cleaned original name (the caller checked scope);
    404 when the file is gone. From S3 it streams in chunks, after its recorded sha256 is compared
    with the one the store kept: a replaced or damaged object is not served."""
    store_ = storage()
    if store_.kind == "local":
        path = path_of(stored_name)
        if not path.is_file():
            abort(404)
        response = send_file(path, as_attachment=True, download_name=filename, mimetype=content_type,
                             max_age=0)
    else:
        found = store_.stat("evidence", stored_name)
        if found is None:
            abort(404)
        if sha256 and found.sha256 and found.sha256 != sha256:
            log.error("evidence %s: the stored object's sha256 %s is not the recorded %s", stored_name,
                      found.sha256, sha256)
            abort(404)
        body = store_.open("evidence", stored_name)
        if body is None:
            abort(404)

        def chunks():
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        response = Response(chunks(), mimetype=content_type or "application/octet-stream",
                            direct_passthrough=True)
        response.content_length = found.size
        response.cache_control.no_cache = True
    response.headers["Content-Disposition"] = content_disposition(filename)
    return response


def discard(stored_names: list[str]) -> None:
    """Remove files written for a transaction that did not commit."""
    store_ = storage()
    for name in stored_names:
        store_.delete("evidence", name)
