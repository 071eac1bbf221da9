"""The report form: unit, period and language (read from the query string: reading changes nothing)."""

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired

from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect

BAD_DATE = _l("Enter a date as YYYY-MM-DD.")


def int_or_none(value):
    """Junk in the query string becomes "no unit" (answered with a form error), not a coercion error."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ReportForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that only reads

    unit = SelectField(_l("Unit"), coerce=int_or_none, validate_choice=False, widget=PickerSelect())
    date_from = DateField(_l("From"), validators=[DataRequired(BAD_DATE)], invalid_value_message=BAD_DATE)
    date_to = DateField(_l("To"), validators=[DataRequired(BAD_DATE)], invalid_value_message=BAD_DATE)
    lang = SelectField(_l("Language of the text"), choices=[("zh_CN", "中文"), ("en", "English")],
                       validate_choice=False)
