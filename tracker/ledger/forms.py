"""Forms of the ledger pages."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from tracker.i18n import lazy_gettext as _l


class UploadForm(FlaskForm):
    file = FileField(_l("Ledger file (.xlsx)"), validators=[FileRequired(_l("Choose the ledger file."))])


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the file itself waits on the server under its token."""
