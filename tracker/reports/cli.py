"""Commands of this feature, registered by tracker.cli: `flask --app tracker report …`."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask_babel import force_locale

from tracker.clock import current_clock
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.org.models import Unit
from tracker.reports import section as wording
from tracker.reports.document import build_docx
from tracker.reports.services import rectification_figures

ISO_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("report")
@click.option("--unit", "unit_code", required=True, help="Code of the unit whose subtree is reported.")
@click.option("--from", "date_from", required=True, type=ISO_DATE,
              help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, type=ISO_DATE,
              help="Last day of the period (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["md", "docx"]), default="md", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write.")
@click.option("--lang", type=click.Choice(wording.LANGUAGES), default="zh_CN", show_default=True)
def report_command(unit_code, date_from, date_to, fmt, output, lang):
    """Write the rectification section of a work report (the operator sees every unit)."""
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == unit_code))
    if unit is None:
        raise click.ClickException(f"No unit with code {unit_code!r}.")
    # No request here: the locale is given, so translated error messages need no session.
    with force_locale(lang):
        try:
            figures = rectification_figures(None, unit, date_from.date(), date_to.date(), current_clock())
            section = wording.render_section(figures, lang)
        except ServiceError as exc:
            raise click.ClickException(str(exc.message)) from None
    data = build_docx(section) if fmt == "docx" else wording.build_markdown(section).encode("utf-8")
    output.write_bytes(data)  # only once everything is built: an error leaves no file behind
    click.echo(f"Wrote {output} ({figures.problems} problems, {figures.measures} measures, "
               f"{figures.closed} closed out).")


commands: list = [report_command]
