from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from tracker.auth.tokens import MAX_NAME
from tracker.i18n import lazy_gettext as _l


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Remember me"))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired()])


class PreferencesForm(FlaskForm):
    language = SelectField(_l("Language"), choices=[("zh_CN", "中文"), ("en", "English")])
    weekly_digest = BooleanField(_l("Send me the weekly digest email"))
    notify_transitions = BooleanField(
        _l("Email me when a measure is submitted to me, returned to me or closed out"),
        description=_l("Turned off, these notices are still listed under Notifications."))


class TokenForm(FlaskForm):
    """The profile page's form for a new personal API token."""

    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=MAX_NAME)],
                       description=_l("What the token is for, e.g. \"weekly export script\"."))
