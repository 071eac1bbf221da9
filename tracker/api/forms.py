"""The profile page's form for a new personal API token."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from tracker.api.tokens import MAX_NAME
from tracker.i18n import lazy_gettext as _l


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=MAX_NAME)],
                       description=_l("What the token is for, e.g. \"weekly export script\"."))
