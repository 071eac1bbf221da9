"""Placeholder blueprint; replaced by the full views."""

from flask import Blueprint

bp = Blueprint("ledger", __name__)
