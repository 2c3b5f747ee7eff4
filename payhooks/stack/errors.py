"""The one error `payhooks stack` raises: its message names the cause and the fix."""


class StackError(Exception):
    """The local stack could not be brought to the state asked for."""
