"""Forms of the task page (one small form per action) and the rectification list's filter bar."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import Form, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields import BooleanField, DateField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from tracker.enums import Light, TaskState, TaskType
from tracker.followup.models import PeriodKind
from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect
from tracker.review.models import Rating

TEXT = 5000  # the services' MAX_TEXT; checked here too so the error sits beside the field


def optional_int(value):
    """Coerce a select's value; the blank choice means None."""
    if value in (None, "", "None"):
        return None
    return int(value)


class VersionedForm(FlaskForm):
    """Carries the task version the user saw, so a stale edit is refused (optimistic locking)."""

    version = HiddenField()

    def expected_version(self) -> int:
        """The version the user saw; a missing or junk field counts as stale, never as "no check"."""
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return -1


class ProgressForm(FlaskForm):
    body = TextAreaField(_l("Progress"), validators=[
        DataRequired(_l("Write what has been done.")), Length(max=TEXT)])
    files = MultipleFileField(_l("Evidence files"))


class AcknowledgeForm(VersionedForm):
    """签收: one click; the version makes a click on an old page harmless."""


class StartForm(VersionedForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])


class SubmitForm(VersionedForm):
    result = TextAreaField(_l("Result"), validators=[
        DataRequired(_l("Describe the result of the rectification.")), Length(max=TEXT)])
    files = MultipleFileField(_l("Evidence files"))


class VerifyForm(VersionedForm):
    rating = SelectField(_l("Rating of the result (整改成效评价)"),
                         choices=[("", _l("Not rated"))] + Rating.choices(), validators=[Optional()])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])


class PassForm(VersionedForm):
    """A step of the review chain agrees; the next step decides."""

    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])


class PeriodForm(FlaskForm):
    """One period's result of an ongoing measure (阶段性销号)."""

    period_start = SelectField(_l("Period"), validate_choice=False)
    result = TextAreaField(_l("Result of the period"), validators=[
        DataRequired(_l("Describe what was done in the period.")), Length(max=TEXT)])
    files = MultipleFileField(_l("Evidence files"))


class PeriodDecisionForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])
    approve = SubmitField(_l("Verify the period"))
    reject = SubmitField(_l("Return"))


class ReturnForm(VersionedForm):
    """Back to an earlier step of the review chain, with the reason."""

    to_step = SelectField(_l("Back to step"), validate_choice=False)
    comment = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Give a reason.")), Length(max=TEXT)])


class ReasonForm(VersionedForm):
    """Reject and cancel: a reason is required."""

    comment = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Give a reason.")), Length(max=TEXT)])


class ExtensionForm(FlaskForm):
    new_deadline = DateField(_l("Requested deadline"), validators=[
        InputRequired(_l("Choose the requested deadline."))])
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Give a reason.")), Length(max=TEXT)])


class DecideForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])
    approve = SubmitField(_l("Approve"))
    reject = SubmitField(_l("Reject"))


class ReassignForm(VersionedForm):
    """Pickers (tracker.pickers): they offer only what the user may pick; the service checks the ids."""

    owner = SelectField(_l("Responsible person"), coerce=optional_int, validate_choice=False,
                        widget=PickerSelect(),
                        validators=[InputRequired(_l("Choose the responsible person."))])
    unit = SelectField(_l("Responsible unit"), coerce=optional_int, validate_choice=False,
                       widget=PickerSelect(), validators=[Optional()])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=TEXT)])


class DeadlineForm(VersionedForm):
    deadline = DateField(_l("New deadline"), validators=[InputRequired(_l("Choose the new deadline."))])
    comment = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Give a reason for the change.")), Length(max=TEXT)])


class EditForm(VersionedForm):
    measure = TextAreaField(_l("Measure"), validators=[
        DataRequired(_l("Describe the measure.")), Length(max=TEXT)])
    target = TextAreaField(_l("Target"), validators=[Optional(), Length(max=TEXT)])
    type = SelectField(_l("Type"), choices=TaskType.choices, validators=[InputRequired()])
    period = SelectField(_l("Periodic close-out (阶段性销号)"),
                         choices=lambda: [("", _l("None"))] + PeriodKind.choices(), validate_choice=False)


class TaskFilterForm(Form):
    """The GET filter bar; only renders what the user chose (queries.TaskFilters parses the values)."""

    state = SelectField(_l("State"), validate_choice=False)
    unit = SelectField(_l("Unit"), validate_choice=False)
    owner = SelectField(_l("Responsible person"), validate_choice=False)
    source = SelectField(_l("Source"), validate_choice=False)
    category = SelectField(_l("Category"), validate_choice=False)
    light = SelectField(_l("Light"), validate_choice=False)
    type = SelectField(_l("Type"), validate_choice=False)
    overdue = BooleanField(_l("Overdue only"))
    awaiting_ack = BooleanField(_l("Not signed for"))
    period_missed = BooleanField(_l("Period missed"))
    rebounded = BooleanField(_l("Rebounded"))
    rating = SelectField(_l("Rating"), validate_choice=False)
    review_step = SelectField(_l("Review step"), validate_choice=False)
    due_after = StringField(_l("Deadline from"))
    due_before = StringField(_l("Deadline to"))
    q = StringField(_l("Search"))

    def fill(self, pickers: dict, categories) -> None:
        """Choices from the user's scope: the pickers of unit, owner and source (tracker.pickers, by field
        name), the categories (a refdata pick list); the template puts the blank choice, "any", first."""
        self.state.choices = [("open", _l("Open (not yet closed out)"))] + TaskState.choices()
        for name, picker in pickers.items():
            self[name].picker = picker
            self[name].choices = picker.choices
        self.category.choices = categories
        self.light.choices = Light.choices()
        self.type.choices = TaskType.choices()
        self.rating.choices = [("rated", _l("Rated")), (Rating.SATISFIED.value, Rating.SATISFIED.label),
                               (Rating.BASIC.value, Rating.BASIC.label), ("unrated", _l("Closed, not rated"))]
        self.review_step.choices = [(str(n), _l("Waiting at step %(n)s", n=n)) for n in range(1, 6)]


class RecheckForm(FlaskForm):
    """Schedule a re-check (回头看) of a closed measure."""

    due_on = DateField(_l("Re-check by"), validators=[InputRequired(_l("Choose the date of the re-check."))])
    reviewer = SelectField(_l("Reviewer"), coerce=optional_int, validate_choice=False, widget=PickerSelect(),
                           validators=[InputRequired(_l("Choose the reviewer."))])


class RecheckResultForm(FlaskForm):
    """The reviewer's finding: consolidated (巩固) or rebounded (反弹, which reopens the measure)."""

    outcome = SelectField(_l("Finding"), choices=[("consolidated", _l("Consolidated (巩固)")),
                                                  ("rebounded", _l("Rebounded (反弹): reopen the measure"))])
    note = TextAreaField(_l("Findings"), validators=[Optional(), Length(max=TEXT)])
    new_deadline = DateField(_l("New deadline if rebounded"), validators=[Optional()])
    files = MultipleFileField(_l("Evidence files"))
