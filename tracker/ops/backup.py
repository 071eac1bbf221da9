"""Portable backups: one zip holding every table as JSON lines, the stored files and a manifest.

Consistency: on SQLite the live file is first copied with the sqlite3 online-backup API and the
copy is read; on PostgreSQL every table is read inside ONE `REPEATABLE READ READ ONLY`
transaction, i.e. from one snapshot, while the app keeps running (no pg_dump needed).

The archive (the same for both databases, so a SQLite backup restores into PostgreSQL and back):
    manifest.json          format, Alembic revision, backend, per table its columns, row count, sha256
    tables/<name>.jsonl    one JSON array per row, in the manifest's column order, by primary key
    files/<area>/<name>    the files of the app's store (tracker.storage), unless --no-files: evidence
                           and the notice template (area "templates"), listed with area, size, sha256
Values: dates and times as ISO 8601 (times in UTC), JSON columns as their JSON text, bytes as base64.
Files are read from, and restored into, whatever store each app uses (EVIDENCE_STORAGE): a backup
of an app on local folders restores into one on S3 and back, streamed in chunks and checked against
the manifest's sha256. Ledger imports waiting for confirmation are scratch and not kept.
Format version 1 (evidence only, under files/uploads/<name>) is still restored.

Restore goes into an EMPTY database migrated to the SAME revision (the category list that
`db upgrade` seeds does not count as content and is replaced), in dependency order, in ONE
transaction (a damaged table rolls everything back), then moves PostgreSQL sequences past the
restored ids, then writes the files. The scheduler lease and alembic_version are runtime state and
not copied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from tracker import refdata
from tracker.clock import utcnow
from tracker.ops.health import app_version
from tracker.storage import StorageError

FORMAT = "rectification-tracker-backup"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: evidence only, as files/uploads/<name>
FILE_AREAS = ("evidence", "templates")  # areas of the store worth keeping (imports are scratch)
# The reference stamp is renewed on restore: processes must drop pick lists cached before it.
# Logins are not carried over: a restored database starts with everyone logged out.
# Dashboard snapshots are figures counted from the data: dropped on restore, counted again. The
# reminders' sweeps are read against the reference stamp, which a restore renews: they sweep again.
RUNTIME_TABLES = {"alembic_version", "scheduler_lease", "reference_stamp", "login_sessions",
                  "dashboard_snapshots", "reminder_sweeps"}
SEED_TABLES = {"categories"}  # filled by `db upgrade`: an otherwise empty database still has them
BATCH = 1000
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass
class Summary:
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0


# --- reading the database ------------------------------------------------------------------------


def reflect(conn) -> sa.MetaData:
    meta = sa.MetaData()
    meta.reflect(conn)
    return meta


def data_tables(meta: sa.MetaData) -> list[sa.Table]:
    """The tables worth keeping, parents before children."""
    return [t for t in meta.sorted_tables if t.name not in RUNTIME_TABLES]


def revision_of(conn) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(found)) or None


def _encode(value):
    """A database value as JSON; naive timestamps are UTC (how SQLite hands back what the app wrote)."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _order(table: sa.Table) -> list:
    return list(table.primary_key.columns) or list(table.columns)


def table_rows(conn, table: sa.Table) -> Iterator[list]:
    """Every row of `table` as a list of JSON values (column order of `table.columns`), by primary key."""
    # JSON columns are read as their text: SQL NULL and a JSON null stay different.
    cols = [sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c for c in table.columns]
    result = conn.execute(sa.select(*cols).order_by(*_order(table)).execution_options(yield_per=BATCH))
    for row in result:
        yield [_encode(v) for v in row]


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection that sees one consistent state of the database for as long as it is open."""
    if engine.dialect.name == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "snapshot.sqlite3"
            raw = engine.raw_connection()
            try:
                target = sqlite3.connect(copy)
                raw.driver_connection.backup(target)  # the online-backup API: a consistent copy
                target.close()
            finally:
                raw.close()
            reader = sa.create_engine(f"sqlite:///{copy}")
            try:
                with reader.connect() as conn:
                    yield conn
            finally:
                reader.dispose()
        return
    opts = {"isolation_level": "REPEATABLE READ"}
    if engine.dialect.name == "postgresql":
        opts["postgresql_readonly"] = True
    with engine.connect().execution_options(**opts) as conn, conn.begin():
        yield conn


# --- writing the archive -------------------------------------------------------------------------


def _write_table(zf: zipfile.ZipFile, conn, table: sa.Table) -> dict:
    digest, count = hashlib.sha256(), 0
    with zf.open(f"tables/{table.name}.jsonl", "w", force_zip64=True) as member:
        for row in table_rows(conn, table):
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            member.write(line)
            count += 1
    return {"columns": [c.name for c in table.columns], "rows": count, "sha256": digest.hexdigest()}


def _write_files(zf: zipfile.ZipFile, store) -> list[dict]:
    """Every file of the kept areas of `store`, streamed into the archive."""
    listed = []
    for area in FILE_AREAS:
        for item in store.names(area):
            stream = store.open(area, item.name)
            if stream is None:  # removed since it was listed (an upload whose transaction failed)
                continue
            digest, size = hashlib.sha256(), 0
            with stream, zf.open(f"files/{area}/{item.name}", "w", force_zip64=True) as dst:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            listed.append({"area": area, "name": item.name, "size": size, "sha256": digest.hexdigest()})
    return listed


def create_backup(engine: sa.Engine, target: Path, store) -> Summary:
    """Write a backup of the whole database (and the files of `store`, unless None) to `target`."""
    target = Path(target)
    partial = target.with_name(target.name + ".part")
    with snapshot(engine) as conn:
        revision = revision_of(conn)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "app_version": app_version(),
                    "created_at": utcnow().isoformat(timespec="seconds"), "backend": engine.dialect.name,
                    "alembic_revision": revision, "tables": {}, "files": None}
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                for table in data_tables(reflect(conn)):
                    manifest["tables"][table.name] = _write_table(zf, conn, table)
                if store is not None:
                    manifest["files"] = _write_files(zf, store)
                zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, target)  # a half-written archive never carries the final name
    return Summary(revision, {n: t["rows"] for n, t in manifest["tables"].items()},
                   len(manifest["files"] or []))


# --- reading the archive -------------------------------------------------------------------------


def open_archive(path: Path) -> tuple[zipfile.ZipFile, dict]:
    """The archive and its manifest, after checking every member's CRC; BackupError if unusable."""
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise BackupError(f"{path}: no such file.") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise BackupError(f"{path} is not a backup archive or is damaged ({exc}).") from exc
    try:
        manifest = json.loads(zf.read("manifest.json"))
        bad = zf.testzip()
    except KeyError as exc:
        zf.close()
        raise BackupError(f"{path} has no manifest.json: not a backup made by `flask backup`.") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        zf.close()
        raise BackupError(f"{path} is damaged ({exc}).") from exc
    if bad is not None:
        zf.close()
        raise BackupError(f"{path} is damaged: {bad} fails its checksum.")
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READABLE_VERSIONS:
        zf.close()
        raise BackupError(f"{path} is not a backup of this application (format {manifest.get('format')!r}, "
                          f"version {manifest.get('format_version')!r}).")
    return zf, manifest


def _decoder(column: sa.Column, dialect: str):
    kind = column.type
    if isinstance(kind, sa.JSON):
        return lambda v: None if v is None else (sa.JSON.NULL if v.strip() == "null" else json.loads(v))
    if isinstance(kind, sa.DateTime):
        naive = dialect == "postgresql" and not kind.timezone

        def stamp(v):
            moment = datetime.fromisoformat(v).astimezone(UTC)
            return moment.replace(tzinfo=None) if naive else moment
        return lambda v: None if v is None else stamp(v)
    if isinstance(kind, sa.Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(kind, sa.Time):
        return lambda v: None if v is None else time.fromisoformat(v)
    if isinstance(kind, sa.LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    if isinstance(kind, sa.Boolean):
        return lambda v: None if v is None else bool(v)
    return lambda v: v


def _read_rows(zf: zipfile.ZipFile, name: str, expected: dict) -> Iterator[list]:
    """The rows of one table member, then a check of its count and checksum (raises at the end)."""
    digest, count = hashlib.sha256(), 0
    try:
        with zf.open(f"tables/{name}.jsonl") as member:
            for line in member:
                digest.update(line)
                count += 1
                yield json.loads(line)
    except KeyError as exc:
        raise BackupError(f"The archive lacks the data of table {name}.") from exc
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        raise BackupError(f"The data of table {name} is damaged ({exc}).") from exc
    if count != expected["rows"] or digest.hexdigest() != expected["sha256"]:
        raise BackupError(f"The data of table {name} does not match the manifest "
                          f"({count} rows, expected {expected['rows']}; checksum differs or not).")


# --- restoring -----------------------------------------------------------------------------------


def occupied_tables(conn, tables: list[sa.Table]) -> dict[str, int]:
    """Tables holding rows, other than the seeded ones (what makes a database not empty)."""
    counts = {}
    for table in tables:
        if table.name not in SEED_TABLES:
            n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            if n:
                counts[table.name] = n
    return counts


def check_target(conn, manifest: dict) -> list[sa.Table]:
    """The target's tables if the backup fits them (same revision, same tables and columns)."""
    revision = revision_of(conn)
    if revision is None:
        raise BackupError("The target database is not migrated: run `flask --app tracker db upgrade` first.")
    if revision != manifest.get("alembic_revision"):
        wanted = manifest.get("alembic_revision")
        raise BackupError(f"The backup is at migration {wanted}, the target database at {revision}: restore "
                          f"into a database migrated to the backup's revision "
                          f"(`flask --app tracker db upgrade {wanted}`).")
    tables = data_tables(reflect(conn))
    theirs = manifest["tables"]
    if {t.name for t in tables} != set(theirs):
        raise BackupError("The backup's tables differ from the target's: "
                          f"{sorted(set(theirs) ^ {t.name for t in tables})}.")
    for table in tables:
        if set(theirs[table.name]["columns"]) != {c.name for c in table.columns}:
            raise BackupError(f"The columns of table {table.name} differ between the backup and the target.")
    return tables


def _self_parent(table: sa.Table) -> str | None:
    for fk in table.foreign_keys:
        if fk.column.table is table:
            return fk.parent.name
    return None


def _parents_first(rows: list[dict], key: str, parent: str) -> list[dict]:
    """Order rows of a self-referencing table (units) so that every parent precedes its children."""
    by_parent: dict = {}
    for row in rows:
        by_parent.setdefault(row[parent], []).append(row)
    ordered, ids = [], {row[key] for row in rows}
    queue = [row for row in rows if row[parent] is None or row[parent] not in ids]
    while queue:
        row = queue.pop()
        ordered.append(row)
        queue.extend(by_parent.get(row[key], []))
    return ordered


def _load_table(conn, zf, table: sa.Table, spec: dict) -> int:
    dialect = conn.dialect.name
    names = spec["columns"]
    decoders = [_decoder(table.c[name], dialect) for name in names]
    for name in names:
        if isinstance(table.c[name].type, sa.JSON):
            table.c[name].type.none_as_null = True  # None is SQL NULL; JSON.NULL is the JSON null
    parent = _self_parent(table)
    rows = ({n: d(v) for n, d, v in zip(names, decoders, raw, strict=True)}
            for raw in _read_rows(zf, table.name, spec))
    if parent is not None:
        rows = iter(_parents_first(list(rows), _order(table)[0].name, parent))
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        conn.execute(table.insert(), batch)
        count += len(batch)
    return count


def _reset_sequences(conn, tables: list[sa.Table]) -> None:
    """PostgreSQL: the next generated id follows the highest restored one."""
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
            continue
        seq = conn.execute(sa.select(sa.func.pg_get_serial_sequence(quote(table.name), pk[0].name))).scalar()
        if seq:
            conn.execute(sa.text(f"SELECT setval(:seq, COALESCE(MAX({quote(pk[0].name)}), 0) + 1, false) "
                                 f"FROM {quote(table.name)}"), {"seq": seq})


def _file_entries(manifest: dict) -> list[tuple[str, str, dict]]:
    """(area, archive member, entry) of every listed file, checked before anything is restored."""
    found = []
    for entry in manifest.get("files") or []:
        name, area = entry.get("name"), entry.get("area", "evidence")
        if area not in FILE_AREAS or not isinstance(name, str) or not _bare(name):
            raise BackupError(f"The archive lists a file the store cannot take: {area}/{name}.")
        member = f"files/uploads/{name}" if manifest["format_version"] == 1 else f"files/{area}/{name}"
        found.append((area, member, entry))
    return found


def _bare(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and not name.startswith(".")


def _restore_files(zf: zipfile.ZipFile, entries: list[tuple[str, str, dict]], store) -> int:
    """Stream every file from the archive into `store`, checking each against its sha256 first."""
    for area, member, entry in entries:
        partial, digest = store.scratch() / f".{entry['name']}.restoring", hashlib.sha256()
        try:
            with zf.open(member) as src, partial.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != entry["sha256"]:
                raise BackupError(f"The file {member} in the archive does not match its checksum.")
            store.put_file(area, entry["name"], partial, sha256=digest.hexdigest(),
                           content_type=mimetypes.guess_type(entry["name"])[0])
        except KeyError as exc:
            raise BackupError(f"The archive lacks the file {member} its manifest lists.") from exc
        finally:
            partial.unlink(missing_ok=True)
    return len(entries)


def restore_backup(engine: sa.Engine, source: Path, store, *, force: bool = False) -> Summary:
    """Load a backup into an empty database at the same revision (`force`: wipe it first), then the files
    into `store` (unless None)."""
    zf, manifest = open_archive(Path(source))
    with zf:
        summary = Summary(manifest.get("alembic_revision"))
        files = _file_entries(manifest)
        with engine.begin() as conn:
            tables = check_target(conn, manifest)
            occupied = occupied_tables(conn, tables)
            if occupied and not force:
                listed = ", ".join(f"{name}: {n}" for name, n in occupied.items())
                raise BackupError(f"The target database is not empty ({listed}). Restore into an empty "
                                  "database, or pass --force to delete its contents first.")
            for table in reversed(tables):  # seeded categories too: the backup brings its own
                conn.execute(table.delete())
            for table in tables:
                summary.tables[table.name] = _load_table(conn, zf, table, manifest["tables"][table.name])
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, tables)
            if sa.inspect(conn).has_table("reference_stamp"):
                refdata.renew(conn)
            if sa.inspect(conn).has_table("dashboard_snapshots"):
                conn.execute(sa.text("DELETE FROM dashboard_snapshots"))
        if store is not None and files:
            try:
                summary.files = _restore_files(zf, files, store)
            except (BackupError, StorageError, OSError) as exc:
                raise BackupError(f"The database is restored, but not every file: {exc}. Once the store "
                                  "works, restore again with --force.") from exc
    return summary

