"""Errors that reach a user. Each message says what was wrong and what to do about it."""


class WatchnetError(Exception):
    """Base of every error watchnet reports to a user (the CLI prints it as one line, exit 2)."""


class ConfigError(WatchnetError):
    """The configuration is invalid (bad YAML, unknown camera, bad value)."""


class ModelError(WatchnetError):
    """A model is missing, corrupt, or does not have the expected inputs/outputs."""


class SourceError(WatchnetError):
    """A camera source cannot be opened or decoded (missing file, corrupt video, dead stream)."""


class StoreError(WatchnetError):
    """The database or the state directory cannot be used."""


class InputError(WatchnetError):
    """A user-supplied input (image, photo, request body) is not acceptable."""
