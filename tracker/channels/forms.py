"""The form of a unit's channel; it only parses input, tracker.channels.services checks the rules.

The webhook address carries the robot's key and the secret signs its messages: neither is ever
written back into the page, not even after a refused save. Blank on an edit keeps the saved one.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import PasswordInput

from tracker.channels.models import ChannelKind, UnitChannel
from tracker.channels.services import FLAGS, MAX_NAME, Values
from tracker.i18n import lazy_gettext as _l

LANGUAGES = [SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")]


class UnshownTextInput(PasswordInput):
    """A plain text box that never renders its value (PasswordInput's hide_value, shown as text)."""

    input_type = "text"


class ChannelForm(FlaskForm):
    # Lengths, characters and choices are the service's to refuse, in its words beside these fields.
    name = StringField(_l("Channel name"), render_kw={"maxlength": MAX_NAME})
    kind = SelectField(_l("Kind of channel"), validate_choice=False,
                       choices=[SelectChoice(value, label) for value, label in ChannelKind.choices()])
    url = StringField(_l("Webhook address"), widget=UnshownTextInput(),
                      render_kw={"autocomplete": "off", "spellcheck": "false"})
    # "new-password": browsers ignore autocomplete=off on password boxes and would fill in the
    # user's own login password.
    secret = PasswordField(_l("Signing secret"),
                           render_kw={"autocomplete": "new-password"})
    language = SelectField(_l("Language of the messages"), choices=LANGUAGES, validate_choice=False)
    daily = BooleanField(_l("Daily summary"), default=True)
    weekly = BooleanField(_l("Weekly summary"), default=True)
    escalations = BooleanField(_l("Escalations of overdue measures"), default=True)
    notices = BooleanField(_l("Notices (提醒函 / 督办单)"), default=True)
    active = BooleanField(_l("Active"), default=True)
    version = HiddenField()

    def fill_from(self, channel: UnitChannel) -> None:
        """Show a saved channel (GET of the edit page): everything but the address and the secret."""
        self.name.data = channel.name
        self.kind.data = channel.kind.value
        self.language.data = channel.language
        for flag in FLAGS:
            getattr(self, flag).data = getattr(channel, flag)
        self.version.data = channel.version

    def values(self, channel: UnitChannel | None = None) -> Values:
        """What to save; on an edit only what differs from `channel`, so the audit lists real changes."""
        given = {"name": (self.name.data or "").strip(), "kind": self.kind.data or "",
                 "language": self.language.data or "",
                 **{flag: bool(getattr(self, flag).data) for flag in FLAGS}}
        if channel is not None:
            saved = {"name": channel.name, "kind": channel.kind.value, "language": channel.language,
                     **{flag: getattr(channel, flag) for flag in FLAGS}}
            given = {k: v for k, v in given.items() if v != saved[k]}
        return Values(url=self.url.data or None, secret=self.secret.data or None, **given)

    def expected_version(self) -> int:
        """The version the user edited; junk counts as stale rather than as "no check"."""
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return -1
