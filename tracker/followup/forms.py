"""The form that draws a recorded random sample of closures to re-check (回头看)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange, Optional

from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect
from tracker.tasks.forms import optional_int


class SampleForm(FlaskForm):
    unit = SelectField(_l("Unit"), coerce=optional_int, validate_choice=False, widget=PickerSelect(),
                       validators=[InputRequired(_l("Choose the unit."))])
    date_from = DateField(_l("Closed out from"), validators=[InputRequired(_l("Give the period."))])
    date_to = DateField(_l("Closed out to"), validators=[InputRequired(_l("Give the period."))])
    share = IntegerField(_l("Share (%)"), validators=[Optional(), NumberRange(1, 100)])
    count = IntegerField(_l("Or a number of measures"), validators=[Optional(), NumberRange(1, 500)])
    seed = IntegerField(_l("Seed"), validators=[Optional(), NumberRange(0, 2**31 - 1)])
    due_on = DateField(_l("Re-check by"), validators=[InputRequired(_l("Choose the date of the re-check."))])
    reviewer = SelectField(_l("Reviewer"), coerce=optional_int, validate_choice=False, widget=PickerSelect(),
                           validators=[InputRequired(_l("Choose the reviewer."))])
