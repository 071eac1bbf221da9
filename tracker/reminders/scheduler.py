"""Placeholder: the in-process scheduler is started from here when SCHEDULER_ENABLED."""


def init_app(app) -> None:
    return None
