"""Forms of the notices: issue (with a confirmation), 签收, reply, decision, the admin's template."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import SelectField, SubmitField, TextAreaField
from wtforms.fields import BooleanField, DateField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from tracker.i18n import lazy_gettext as _l
from tracker.supervision.models import NoticeKind

TEXT = 5000


class IssueForm(FlaskForm):
    kind = SelectField(_l("Notice kind"), choices=NoticeKind.choices, validators=[InputRequired()])
    reply_due_on = DateField(_l("Reply by"), validators=[InputRequired(_l("Choose the reply deadline."))])
    body = TextAreaField(_l("Body"), validators=[DataRequired(_l("Write the body of the notice.")),
                                                 Length(max=TEXT)])
    confirm = BooleanField(_l("I have checked it: send this notice to every recipient"),
                           validators=[DataRequired(_l("Confirm that the notice is to be sent."))])


class AcknowledgeForm(FlaskForm):
    pass


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply"), validators=[DataRequired(_l("Write what has been done.")),
                                                  Length(max=TEXT)])
    files = MultipleFileField(_l("Files"))


class DecideForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=TEXT)])
    accept = SubmitField(_l("Accept the reply and close"))
    send_back = SubmitField(_l("Send the reply back"))


class TemplateForm(FlaskForm):
    template = FileField(_l("Template (.docx)"))
    upload = SubmitField(_l("Upload"))
    remove = SubmitField(_l("Use the default template"))
