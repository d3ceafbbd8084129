"""The one exception a user should ever see: a one-line message, no traceback."""


class TrivisionError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class BadImage(TrivisionError):
    """An image file that cannot be decoded, or is outside the allowed size."""
