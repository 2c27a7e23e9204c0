"""The one exception type srlm raises for bad input: its message is shown to the user as is."""


class SrlmError(Exception):
    """A user-facing error: the message names the file, line or key and what was expected."""
