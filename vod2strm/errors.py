"""Errors that end a run, each carrying the exit status the doors report (docs/cli.md, "Exit status").

Doors translate these into an exit code, a JSON ``{"error", "exit"}`` object or a plugin
``{"status": "error"}`` answer; the core only raises them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3
EXIT_ITEM_ERRORS = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130


class Vod2strmError(Exception):
    """Base for errors with a one-line message meant for the user."""

    exit_code = EXIT_FAILED


class ConfigError(Vod2strmError):
    """A setting or flag is invalid, or the environment (database, folders) is unusable."""

    exit_code = EXIT_CONFIG

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class LockedError(Vod2strmError):
    """Another run holds the lock for this output root."""

    exit_code = EXIT_LOCKED


class RefusedError(Vod2strmError):
    """A safety check refused the run (cleanup valve, missing root marker, corrupt manifest)."""

    exit_code = EXIT_REFUSED


class StateError(Vod2strmError):
    """The local state folder (manifest, status) cannot be written: full, failing or read-only.

    The run stops; what it wrote to the library stays, and the next run adopts those files.
    """
