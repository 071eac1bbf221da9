"""Where files live: evidence, the ledger imports waiting for confirmation, the organisation's notice
template. `EVIDENCE_STORAGE=local` (the default: folders under instance/) or `s3` (any S3-compatible
store through boto3: S3_ENDPOINT_URL, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_PREFIX).

Files are addressed by an area and a name. Locally each area is a folder (evidence stays in
instance/uploads, where it always was); in S3 each area is a key prefix. Writes go through a file on
disk (size limit and sha256 checked while copying, never the whole file in memory) and are then moved
(local: one rename) or uploaded in parts (S3). Reads stream in chunks. Every S3 object carries its
sha256 in its metadata, checked before a download is served and by `flask storage migrate`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

CHUNK = 1024 * 1024
PART = 8 * 1024 * 1024  # an S3 multipart upload's part (the protocol's minimum is 5 MB)
AREAS = {"evidence": "uploads", "imports": "imports", "templates": "."}  # area → folder under instance/
# The local templates area is instance/ itself (where the notice template always was): only these
# names in it are the store's, not whatever else an operator keeps there.
LOCAL_TEMPLATES = {"notice_template.docx"}


class StorageError(Exception):
    """The store cannot be reached or refused: the message says which store and why."""


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    sha256: str | None = None  # known without reading the file (S3 metadata); None locally


def sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _name(name: str) -> str:
    """A bare file name: nothing a caller passes may climb out of its area."""
    base = os.path.basename(name.replace("\\", "/"))
    if not base or base in (".", ".."):
        raise ValueError(f"not a file name: {name!r}")
    return base


class LocalStorage:
    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return f"local folders under {self.root}"

    def folder(self, area: str) -> Path:
        path = self.root / AREAS[area]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, area: str, name: str) -> Path:
        return self.folder(area) / _name(name)

    def scratch(self) -> Path:
        """Where a write is prepared: the same file system as the areas, so the move is a rename."""
        return self.folder("evidence")

    def put_file(self, area: str, name: str, source: Path, *, sha256: str, content_type: str | None = None
                 ) -> None:
        os.replace(source, self.path(area, name))

    def put_bytes(self, area: str, name: str, data: bytes, *, content_type: str | None = None) -> None:
        target = self.path(area, name)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def open(self, area: str, name: str) -> BinaryIO | None:
        try:
            return open(self.path(area, name), "rb")
        except (FileNotFoundError, IsADirectoryError):
            return None

    def stat(self, area: str, name: str) -> Stored | None:
        path = self.path(area, name)
        return Stored(path.name, path.stat().st_size) if path.is_file() else None

    def delete(self, area: str, name: str) -> None:
        self.path(area, name).unlink(missing_ok=True)

    def names(self, area: str) -> Iterator[Stored]:
        for path in sorted(self.folder(area).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                if area != "templates" or path.name in LOCAL_TEMPLATES:
                    yield Stored(path.name, path.stat().st_size)

    def older_than(self, area: str, seconds: float) -> Iterator[str]:
        import time

        cutoff = time.time() - seconds
        for path in self.folder(area).glob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path.name


class S3Storage:
    kind = "s3"

    def __init__(self, config: dict, scratch: Path):
        import boto3
        from botocore.config import Config

        self.bucket = config["S3_BUCKET"]
        self.prefix = (config.get("S3_PREFIX") or "").strip("/")
        self.endpoint = config.get("S3_ENDPOINT_URL") or None
        self._scratch = Path(scratch)
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=config.get("S3_REGION") or "us-east-1",
            aws_access_key_id=config.get("S3_ACCESS_KEY") or None,
            aws_secret_access_key=config.get("S3_SECRET_KEY") or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          s3={"addressing_style": "path"}))

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint}" if self.endpoint else "")

    def key(self, area: str, name: str) -> str:
        return "/".join(p for p in (self.prefix, area, _name(name)) if p)

    def scratch(self) -> Path:
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    def _call(self, what: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"{what} on {self.describe()}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{what} on {self.describe()}: {exc}") from exc

    def put_file(self, area: str, name: str, source: Path, *, sha256: str, content_type: str | None = None
                 ) -> None:
        from boto3.s3.transfer import TransferConfig

        extra = {"Metadata": {"sha256": sha256}}
        if content_type:
            extra["ContentType"] = content_type
        # One part in memory at a time (8 MB): a web worker uploading a 20 MB file holds 8 MB, not 20
        # (boto3's default sends ten parts at once from ten threads).
        config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, use_threads=False)
        try:
            self._call("upload", self.client.upload_file, str(source), self.bucket, self.key(area, name),
                       ExtraArgs=extra, Config=config)
        finally:
            Path(source).unlink(missing_ok=True)

    def put_bytes(self, area: str, name: str, data: bytes, *, content_type: str | None = None) -> None:
        extra = {"Metadata": {"sha256": hashlib.sha256(data).hexdigest()}}
        if content_type:
            extra["ContentType"] = content_type
        self._call("upload", self.client.put_object, Bucket=self.bucket, Key=self.key(area, name), Body=data,
                   **extra)

    def open(self, area: str, name: str):
        found = self._call("download", self.client.get_object, Bucket=self.bucket, Key=self.key(area, name))
        return None if found is None else found["Body"]

    def stat(self, area: str, name: str) -> Stored | None:
        found = self._call("stat", self.client.head_object, Bucket=self.bucket, Key=self.key(area, name))
        if found is None:
            return None
        return Stored(_name(name), found["ContentLength"], found.get("Metadata", {}).get("sha256"))

    def delete(self, area: str, name: str) -> None:
        self._call("delete", self.client.delete_object, Bucket=self.bucket, Key=self.key(area, name))

    def names(self, area: str) -> Iterator[Stored]:
        prefix = self.key(area, "x")[:-1]
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield Stored(item["Key"][len(prefix):], item["Size"])
        except Exception as exc:  # botocore's errors, raised lazily by the paginator
            raise StorageError(f"list on {self.describe()}: {exc}") from exc

    def older_than(self, area: str, seconds: float) -> Iterator[str]:
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        prefix = self.key(area, "x")[:-1]
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    yield item["Key"][len(prefix):]

    def bucket_exists(self) -> bool:
        return self._call("head bucket", self.client.head_bucket, Bucket=self.bucket) is not None

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (tests, a first MinIO); production buckets are made
        by whoever runs the store."""
        if not self.bucket_exists():
            self._call("create bucket", self.client.create_bucket, Bucket=self.bucket)


def build(config: dict, instance_path: str, kind: str | None = None):
    kind = (kind or config.get("EVIDENCE_STORAGE") or "local").lower()
    if kind == "local":
        return LocalStorage(Path(instance_path))
    if kind == "s3":
        if not config.get("S3_BUCKET"):
            raise StorageError("EVIDENCE_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for a store other "
                               "than AWS, S3_ACCESS_KEY, S3_SECRET_KEY)")
        return S3Storage(config, Path(instance_path) / "scratch")
    raise StorageError(f"EVIDENCE_STORAGE must be local or s3, not {kind!r}")


_SETTINGS = ("EVIDENCE_STORAGE", "S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY",
             "S3_REGION", "S3_PREFIX")


def storage():
    """The app's store, built once per app and settings (a boto3 client is thread-safe and pooled)."""
    app = current_app._get_current_object()
    settings = tuple(app.config.get(k) for k in _SETTINGS)
    cached = app.extensions.get("tracker_storage")
    if cached is None or cached[0] != settings:
        cached = (settings, build(app.config, app.instance_path))
        app.extensions["tracker_storage"] = cached
    return cached[1]


def copy_stream(source: BinaryIO, target: BinaryIO) -> None:
    shutil.copyfileobj(source, target, CHUNK)
