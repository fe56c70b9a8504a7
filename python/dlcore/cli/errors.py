"""The error type of the ``dlcore`` command."""

__all__ = ["CLIError", "one_line"]


class CLIError(Exception):
    """A user error (bad argument, missing file, mismatched checkpoint): the command prints the
    message on one line and exits with ``exit_code`` (2: bad arguments, 1: anything else)."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def one_line(msg, limit=400):
    """``msg`` on one line ("; " between its lines), shortened to ``limit`` characters."""
    text = "; ".join(part.strip() for part in str(msg).splitlines() if part.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."
