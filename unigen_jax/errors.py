"""Errors a user can fix: the command line prints their message as one line and exits non-zero."""


class UserInputError(ValueError):
    """Bad input the user can fix (unknown name, impossible size, missing data).

    The message must fit on one line and say what is wrong and what to do about it.
    """


class PartialFailure(RuntimeError):
    """Part of a command's work failed after the rest was done and saved.

    The message fits on one line: what failed, and where the finished part and the details are.
    """
