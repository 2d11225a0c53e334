"""The project's errors: one base, caught once by the command line (``cli.main``).

Each says, in one line, what was expected and what came. A ``DigitcnnError`` is a failure the user
can act on (exit status 1); a ``UsageError`` is a command asked for wrongly (exit status 2, as
argparse's own usage errors).
"""


class DigitcnnError(Exception):
    """A failure with a one-line message for the user."""

    exit_status = 1


class UsageError(DigitcnnError):
    """A command or setting asked for wrongly (an unknown preset, a value out of its choices)."""

    exit_status = 2
