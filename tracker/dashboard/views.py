"""Placeholder blueprint; replaced by the full views."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
