"""Errors a user can cause and fix; the command line prints their message, not a traceback."""


class RootsError(ValueError):
    """Base of every user-facing error in ``roots``."""


class UnknownNameError(RootsError):
    """An unknown model, variant or layer name; the message lists the valid ones."""
