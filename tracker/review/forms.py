"""The form of a unit's review chain: up to MAX_STEPS rows; a row without a kind is left out."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField
from wtforms.validators import Length, Optional

from tracker.i18n import lazy_gettext as _l
from tracker.review.chains import MAX_LABEL, MAX_STEPS
from tracker.review.models import StepKind


class StepForm(Form):
    kind = SelectField(_l("Who decides"), choices=[("", _l("(no step)"))] + StepKind.choices(),
                       validators=[Optional()])
    reviewer_unit = SelectField(_l("Unit"), validate_choice=False, validators=[Optional()])
    reviewer = SelectField(_l("Person"), validate_choice=False, validators=[Optional()])
    title = StringField(_l("Name of the step"), validators=[Optional(), Length(max=MAX_LABEL)])


class ChainForm(FlaskForm):
    steps = FieldList(FormField(StepForm), min_entries=MAX_STEPS, max_entries=MAX_STEPS)

    def fill(self, units, people) -> None:
        """Choices for every row: the units and people on the chain unit's line."""
        for entry in self.steps:
            entry.reviewer_unit.choices = [("", "—")] + [(str(u.id), u.name) for u in units]
            entry.reviewer.choices = [("", "—")] + [(str(p.id), p.label) for p in people]

    def rows(self) -> tuple[list[int], list[dict]]:
        """The filled rows (their indices in the form) and the steps they ask for, in order."""
        used, steps = [], []
        for index, entry in enumerate(self.steps):
            if entry.kind.data:
                used.append(index)
                steps.append({"kind": entry.kind.data, "label": entry.title.data or "",
                              "reviewer_unit_id": entry.reviewer_unit.data or None,
                              "reviewer_id": entry.reviewer.data or None})
        return used, steps
