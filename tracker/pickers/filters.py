"""The pickers of the lists' filter bars: the cached pick lists (tracker.refdata) while they are short,
else the current choice only, searched as the user types."""

from __future__ import annotations

from collections.abc import Iterable

from flask_login import current_user

from tracker import refdata
from tracker.enums import Role
from tracker.pickers.lists import People, Sources, Units
from tracker.pickers.widgets import Picker, build, capped, inline_limit


def units(name: str, selected) -> Picker:
    """The units of the user's scope, as a tree."""
    return build(Units(), name, [selected], short=lambda: capped(refdata.units(current_user, inline_limit())))


def people(name: str, selected, roles: Iterable[Role]) -> Picker:
    """The people of the user's scope with these roles, former ones too (old measures are theirs)."""
    roles = tuple(roles)
    return build(People(roles), name, [selected],
                 short=lambda: capped(refdata.people(current_user, roles, limit=inline_limit())))


def sources(name: str, selected) -> Picker:
    """The sources of the user's units and of the units above (refdata.sources)."""
    return build(Sources(above=True), name, [selected],
                 short=lambda: capped(refdata.sources(current_user, inline_limit())))
