"""Placeholder blueprint for /api/v1; replaced by the full API."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
