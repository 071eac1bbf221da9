"""Commands of this feature, registered by tracker.cli."""

commands: list = []
