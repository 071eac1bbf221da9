"""Ledger commands: `import-ledger FILE [--dry-run]`, `export-ledger FILE`."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from tracker.clock import current_clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.ledger.export import build_ledger_xlsx
from tracker.ledger.importer import check_import, import_limits, run_import
from tracker.ledger.report import ImportReport
from tracker.org.models import User

LANGS = click.Choice(["zh_CN", "en"])


def _user(username: str | None, *, required: bool) -> User | None:
    if username:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"No user {username!r}.")
        return user
    if not required:
        return None
    user = db.session.scalar(
        sa.select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id))
    if user is None:
        raise click.ClickException("No active administrator to import as; pass --user USERNAME.")
    return user


def _where(issue) -> str:
    parts = [p for p in (issue.sheet, f"row {issue.row}" if issue.row else "", issue.column) if p]
    return " / ".join(parts)


def _print(report: ImportReport) -> None:
    for problem in report.problems:
        click.echo(f"{problem.data.get('number') or '(auto)'}\t{problem.data.get('description') or ''}")
        for measure in problem.measures:
            deadline = measure.data.get("deadline")
            owner = measure.data.get("owner")
            click.echo(f"\t- {measure.data.get('measure') or ''}\t{owner.name if owner else ''}\t"
                       f"{deadline.isoformat() if deadline else ''}")
    for source in report.new_sources.values():
        click.echo(f"new source: {source.name} ({source.kind.value})")
    for issue in report.warnings:
        click.echo(f"note: {_where(issue)}: {issue.message}")
    for issue in report.errors:
        click.echo(f"ERROR: {_where(issue)}: {issue.message}", err=True)
    click.echo(f"{len(report.problems)} problems, {report.measure_count} measures, "
               f"{len(report.new_sources)} new sources, {len(report.errors)} errors.")


@click.command("import-ledger")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and show what would be created; write nothing.")
@click.option("--user", "username", help="Import as this manager or admin (default: the first active admin).")
@click.option("--lang", default="zh_CN", type=LANGS, help="Language of the messages.")
def import_ledger_command(file: Path, dry_run: bool, username: str | None, lang: str):
    """Import an Excel ledger (all or nothing); exits with status 1 when the file has errors."""
    with force_locale(lang):
        actor = _user(username, required=True)
        run = check_import if dry_run else run_import  # a dry run checks exactly as the import does
        report = run(file.read_bytes(), actor, current_clock(), lang=lang,
                     **import_limits(current_app.config))
        _print(report)
    if not report.ok or dry_run:
        db.session.rollback()
        if not report.ok:
            raise SystemExit(1)
        click.echo("Dry run: nothing was written.")
        return
    db.session.commit()
    click.echo("Imported.")


@click.command("export-ledger")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--user", "username", help="Export what this user may see (default: everything).")
@click.option("--lang", default="zh_CN", type=LANGS, help="Language of the headers.")
def export_ledger_command(file: Path, username: str | None, lang: str):
    """Write the problem, responsibility and rectification lists to an .xlsx file."""
    actor = _user(username, required=False)
    with file.open("wb") as stream:
        build_ledger_xlsx(actor, current_clock(), stream, lang=lang)
    click.echo(f"Wrote {file}.")


commands: list = [import_ledger_command, export_ledger_command]
