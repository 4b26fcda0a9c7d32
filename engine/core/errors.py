"""The one exception type users see.

Anything the user can fix (a bad file, a wrong option, a missing model or system package) raises
:class:`LatentLabError` with a one-line message that says what to do. The CLI prints it and exits
non-zero; the app turns it into ``gr.Error``. Any other exception is a bug.
"""


class LatentLabError(Exception):
    """A user-facing error with a one-line, actionable message."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
