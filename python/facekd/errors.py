"""Errors facekd reports to users as a message (CLI: message + exit code, never a traceback)."""


class FacekdError(Exception):
    """A user-facing error: bad input file, unknown option value, no face found, …"""

    exit_code = 2


class NoFaceFoundError(FacekdError):
    exit_code = 3
