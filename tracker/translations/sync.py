"""Bring the catalogues up to date with the code: `make messages` (python -m tracker.translations.sync).

The .po files are the source of the translations, kept sorted by msgid without source locations so
that two branches adding messages rarely touch the same lines. This adds every message the code
uses and the catalogues lack (empty msgstr), keeps every existing entry (some are looked up by
keywords the extractor does not know), fills empty Chinese entries from `--from FILE.po`
catalogues or a `--zh FILE.json` {msgid: translation} file, and lists what is still untranslated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = Path(__file__).resolve().parent
LOCALES = ("zh", "en")


def extract() -> Catalog:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
             "-k", "lazy_gettext", "--ignore-dirs=.venv .git", "--no-location", "-o", str(pot), "."],
            cwd=ROOT, check=True, capture_output=True)
        with pot.open("rb") as f:
            return read_po(f)


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def sync(template: Catalog, locale: str, sources: list[Catalog], extra: dict[str, str]) -> list[str]:
    """Add the template's missing messages to one catalogue; returns the msgids still untranslated."""
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    catalogue = _read(path)
    for message in template:
        if message.id and message.id not in catalogue:
            catalogue.add(message.id, "", flags=message.flags, context=message.context)
    if locale == "zh":
        for message in catalogue:
            if message.id and not message.string:
                found = extra.get(message.id) or next(
                    (s[message.id].string for s in sources if message.id in s and s[message.id].string), "")
                message.string = found
                message.flags.discard("fuzzy")
    with path.open("wb") as f:
        write_po(f, catalogue, width=0, no_location=True, sort_output=True, include_previous=False)
    return [m.id for m in catalogue if m.id and not m.string and m.id in template]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="sources", action="append", default=[], type=Path,
                        help="another zh messages.po to take missing translations from")
    parser.add_argument("--zh", type=Path, help="a JSON file {msgid: Chinese translation}")
    args = parser.parse_args(argv)
    template = extract()
    extra = json.loads(args.zh.read_text("utf-8")) if args.zh else {}
    sources = [_read(p) for p in args.sources]
    missing = sync(template, "zh", sources, extra)
    sync(template, "en", [], {})
    for msgid in missing:
        print(f"untranslated (zh): {msgid}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
