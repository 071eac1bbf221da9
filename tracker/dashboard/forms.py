"""The dashboard's filter: unit and period, read from the query string (reading changes nothing)."""

from datetime import date

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, ValidationError

from tracker.extensions import MAX_ID
from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect

BAD_DATE = _l("Enter a date as YYYY-MM-DD.")
# Far-off dates are typing mistakes, and at the ends of the calendar the time-zone arithmetic overflows.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def plausible(form, field) -> None:
    """A date within FIRST_DAY … LAST_DAY."""
    if field.data is not None and not FIRST_DAY <= field.data <= LAST_DAY:
        raise ValidationError(_l("Enter a date between %(first)s and %(last)s.", first=FIRST_DAY.isoformat(),
                                 last=LAST_DAY.isoformat()))


def unit_id_or_none(value):
    """Junk or an impossible id becomes "no unit", answered with a form error, never a 500."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class DashboardForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that only reads

    unit = SelectField(_l("Unit"), coerce=unit_id_or_none, validate_choice=False, widget=PickerSelect())
    date_from = DateField(_l("From"), validators=[DataRequired(BAD_DATE), plausible],
                          invalid_value_message=BAD_DATE)
    date_to = DateField(_l("To"), validators=[DataRequired(BAD_DATE), plausible],
                        invalid_value_message=BAD_DATE)
