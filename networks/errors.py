"""The one base class for errors caused by user input (files, arguments), reported as one line by every tool."""


class UserError(Exception):
    """Bad input from a user or a file: a CLI prints ``error: <message>`` and exits 1, the GUI shows the message.

    Never raised for bugs: anything that is not a ``UserError`` is a defect and keeps its traceback.
    """


class PickleError(UserError, ValueError):
    """A network pickle could not be read: missing, not a pickle, corrupt, unsafe or of an unknown kind."""
