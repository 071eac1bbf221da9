"""Forms for recording and editing problems (问题清单/责任清单) and their measures (整改措施).

Choices are filled in by the view from the actor's scope. Selects do not refuse unknown ids
themselves: the view turns ids into objects and the services say what is wrong with them.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.validators import Optional

from tracker.enums import TaskType
from tracker.followup.models import PeriodKind
from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect

NONE = ""  # value of the "— choose —" option


def optional_int(value):
    """Coerce a select's value to an int, or None for the empty choice."""
    if value in (None, NONE, "None"):
        return None
    return int(value)


def clean_text(value):
    # NUL cannot be stored in PostgreSQL text; it never belongs in typed input anyway.
    return value.replace("\x00", "") if isinstance(value, str) else value


class Needed:
    """Marks a field as required on the page (the asterisk); the service says what is missing and why."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        pass


def _select(label, needed=False, **kw):
    validators = [Needed()] if needed else []
    return SelectField(label, coerce=optional_int, validate_choice=False, validators=validators, **kw)


def _picker(label, needed=False):
    """A select of people, units or sources that the view makes a searchable picker (tracker.pickers)."""
    return _select(label, needed, widget=PickerSelect())


PERIOD_CHOICES = [("", _l("None"))] + PeriodKind.choices()


class MeasureForm(Form):
    """One measure row (no CSRF of its own: it lives inside a protected form)."""

    measure = TextAreaField(_l("Measure"), filters=[clean_text], validators=[Needed()])
    target = TextAreaField(_l("Target"), filters=[clean_text])
    type = SelectField(_l("Type"), choices=TaskType.choices(), default=TaskType.DEADLINE.value)
    owner = _picker(_l("Responsible person"), needed=True)
    unit = _picker(_l("Responsible unit"), needed=True)
    deadline = DateField(_l("Deadline"), validators=[Optional()])
    period = SelectField(_l("Periodic close-out (阶段性销号)"), choices=PERIOD_CHOICES, default="",
                         validate_choice=False)

    def is_empty(self) -> bool:
        """A row left blank is skipped; the type select always has a value, so it does not count."""
        return not ((self.measure.data or "").strip() or (self.target.data or "").strip()
                    or self.owner.data or self.deadline.data)


class AddMeasureForm(FlaskForm, MeasureForm):
    """The "Add measure" form on the problem page."""


class ProblemForm(FlaskForm):
    """The problem and its responsibility fields (责任清单)."""

    number = StringField(_l("Number"), filters=[clean_text],
                         description=_l("Leave blank to number it automatically (e.g. 2026-001)."))
    description = TextAreaField(_l("Problem description"), filters=[clean_text], validators=[Needed()])
    category = _select(_l("Category"), needed=True)
    source = _picker(_l("Source"), needed=True)
    unit = _picker(_l("Unit where found"), needed=True)
    found_on = DateField(_l("Date found"), validators=[Needed(), Optional()])
    responsible_leader = _picker(_l("Responsible leader"))
    lead_unit = _picker(_l("Lead unit"), needed=True)
    cooperating_units = SelectMultipleField(_l("Cooperating units"), coerce=int, validate_choice=False,
                                            widget=PickerSelect(multiple=True))
    responsible_person = _picker(_l("Responsible person"))
    version = HiddenField()

    def fill_from(self, problem) -> None:
        """Show a stored problem in the form (GET of the edit page)."""
        self.number.data = problem.number
        self.description.data = problem.description
        self.category.data = problem.category_id
        self.source.data = problem.source_id
        self.unit.data = problem.unit_id
        self.found_on.data = problem.found_on
        self.responsible_leader.data = problem.responsible_leader_id
        self.lead_unit.data = problem.lead_unit_id
        self.cooperating_units.data = [u.id for u in problem.cooperating_units]
        self.responsible_person.data = problem.responsible_person_id
        self.version.data = problem.version

    def expected_version(self) -> int:
        """The version the user edited; junk counts as stale rather than as "no check"."""
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return -1


class BoundedFieldList(FieldList):
    """A FieldList that remembers how many rows were sent: WTForms keeps the first max_entries and
    drops the rest without a word, and a user must never lose rows silently."""

    sent = 0

    def process(self, formdata, data=unset_value, extra_filters=None):
        if formdata is not None:
            self.sent = len(set(self._extract_indices(self.name, formdata)))
        super().process(formdata, data, extra_filters)

    @property
    def overflow(self) -> bool:
        return bool(self.max_entries) and self.sent > self.max_entries


MAX_MEASURES = 50


class ProblemCreateForm(ProblemForm):
    """A new problem together with its measures (整改清单); at least one measure is required."""

    measures = BoundedFieldList(FormField(MeasureForm), min_entries=1, max_entries=MAX_MEASURES)

    def filled_measures(self):
        """The measure rows that are not blank, as (row form) in order."""
        return [entry.form for entry in self.measures if not entry.form.is_empty()]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.measures.overflow:
            self.form_errors.append(_l(
                "%(sent)s measures were sent; at most %(n)s can be recorded with a new problem. Record "
                "the problem with the first %(n)s, then add the rest on its page.",
                sent=self.measures.sent, n=MAX_MEASURES))
            return False
        if not self.filled_measures():
            first = self.measures[0].form.measure
            first.errors = [*first.errors, _l("Add at least one measure.")]
            ok = False
        return ok
