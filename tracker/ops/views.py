"""Placeholder blueprint for operations endpoints (/healthz)."""

from flask import Blueprint

bp = Blueprint("ops", __name__)
