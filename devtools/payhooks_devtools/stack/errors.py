"""The one error `payhooks stack` raises: its message names the cause and the fix."""

from schemas.errors import CommandError


class StackError(CommandError):
    """The local stack could not be brought to the state asked for."""
