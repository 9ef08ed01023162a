"""Exceptions the command line maps to exit codes (2 bad input, 1 failure)."""


class BadInput(Exception):
    """A bad option or argument; the message names it, what was given and what is allowed."""


class BuildFailed(Exception):
    """The build could not complete (builder error, download failure, missing dependency)."""
