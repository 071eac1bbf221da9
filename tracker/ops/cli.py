"""Commands: `flask --app tracker backup FILE`, `flask --app tracker restore FILE` (the files through the
app's store, local or S3) and the `storage` group."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from tracker.extensions import db
from tracker.ops import backup
from tracker.ops.storage_cli import commands as storage_commands
from tracker.storage import StorageError, storage


def _echo_summary(verb: str, summary: backup.Summary) -> None:
    rows = sum(summary.tables.values())
    click.echo(f"{verb} {rows} rows in {len(summary.tables)} tables and {summary.files} files "
               f"(migration {summary.revision}).")
    for name, count in summary.tables.items():
        click.echo(f"  {name:<28} {count:>9}")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-files", is_flag=True, help="Leave the stored files (evidence, notice template) out.")
@with_appcontext
def backup_command(file: Path, no_files: bool):
    """Write a consistent backup of the whole database and the stored files to FILE (a zip)."""
    try:
        summary = backup.create_backup(db.engine, file, None if no_files else storage())
    except (backup.BackupError, StorageError, OSError, sa.exc.SQLAlchemyError) as exc:
        raise click.ClickException(f"Backup failed: {exc}") from exc
    _echo_summary(f"Backed up to {file}:", summary)


def _confirm_wipe(file: Path) -> None:
    """Show what --force would delete and ask."""
    zf, manifest = backup.open_archive(file)
    zf.close()
    with db.engine.connect() as conn:
        occupied = backup.occupied_tables(conn, backup.check_target(conn, manifest))
    if occupied:
        listed = ", ".join(f"{name} ({n})" for name, n in occupied.items())
        click.confirm(f"This DELETES everything in {db.engine.url.render_as_string(hide_password=True)}: "
                      f"{listed}. Continue?", abort=True)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Delete the target database's contents first.")
@click.option("--yes", is_flag=True, help="With --force: do not ask for confirmation.")
@click.option("--no-files", is_flag=True, help="Restore the database only, not the stored files.")
@with_appcontext
def restore_command(file: Path, force: bool, yes: bool, no_files: bool):
    """Restore a backup made by `backup` into an empty database migrated to the same revision."""
    try:
        if force and not yes:
            _confirm_wipe(file)
        summary = backup.restore_backup(db.engine, file, None if no_files else storage(), force=force)
    except (backup.BackupError, StorageError) as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise click.ClickException(f"The restore failed and changed nothing in the database: {exc}") from exc
    _echo_summary(f"Restored from {file}:", summary)


commands: list = [backup_command, restore_command, *storage_commands]
