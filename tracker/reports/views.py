"""Placeholder blueprint; replaced by the full views."""

from flask import Blueprint

bp = Blueprint("reports", __name__)
