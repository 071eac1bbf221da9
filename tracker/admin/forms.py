"""Forms of the admin pages; they only parse input, the services in org/problems check the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from tracker.enums import Role, SourceKind
from tracker.i18n import lazy_gettext as _l
from tracker.pickers.widgets import PickerSelect

LANGUAGES = [SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")]


class Required:
    """Marks a field as required (asterisk, `required` flag) and leaves the check to the service."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


def optional_int(value):
    """Coerce a select's value to an id, or None for the empty choice (junk becomes None too)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def enum_choices(enum_cls, empty_label=None) -> list[SelectChoice]:
    head = [SelectChoice("", empty_label)] if empty_label is not None else []
    return head + [SelectChoice(value, label) for value, label in enum_cls.choices()]


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[Required()])
    name = StringField(_l("Name"), validators=[Required()])
    email = StringField(_l("Email"))
    # validate_choice=False: a bad value reaches the service, which answers in its own words.
    role = SelectField(_l("Role"), validators=[Required()], validate_choice=False)
    # Admins may pick any unit, so only junk (and an unknown id) fails the choice check. The unit
    # fields are pickers (tracker.pickers): the views fill their choices.
    unit = SelectField(_l("Unit"), coerce=optional_int, widget=PickerSelect())
    language = SelectField(_l("Language"), choices=LANGUAGES, validate_choice=False)
    active = BooleanField(_l("Active (may log in)"), default=True)
    password = PasswordField(_l("Password"))

    def __init__(self, *args, new=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.password.flags.required = new  # a reset on edit is optional
        self.role.choices = enum_choices(Role, _l("Choose…"))


class UnitForm(FlaskForm):
    code = StringField(_l("Code"), validators=[Required()])
    name = StringField(_l("Unit name"), validators=[Required()])
    parent = SelectField(_l("Parent unit"), coerce=optional_int, widget=PickerSelect())  # a picker, as above
    sort_order = IntegerField(_l("Sort order"), default=0, validators=[Optional()])


class CategoryForm(FlaskForm):
    name = StringField(_l("Category name"), validators=[Required()])
    sort_order = IntegerField(_l("Sort order"), default=0, validators=[Optional()])
    active = BooleanField(_l("Active (offered for new problems)"), default=True)


class SourceForm(FlaskForm):
    name = StringField(_l("Source name"), validators=[Required()])
    kind = SelectField(_l("Kind"), validators=[Required()], validate_choice=False)
    # Not limited to the listed units: the service says why an out-of-scope unit is refused.
    unit = SelectField(_l("Unit"), coerce=optional_int, validators=[Required()], validate_choice=False,
                       widget=PickerSelect())  # a picker, as above
    held_on = DateField(_l("Date"), validators=[Required(), Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = enum_choices(SourceKind, _l("Choose…"))
