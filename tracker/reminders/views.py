"""Placeholder blueprint; replaced by the full views."""

from flask import Blueprint

bp = Blueprint("reminders", __name__)
