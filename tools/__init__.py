"""Command-line tools: thin argument parsing, then a call into the packages (``python -m tools.<name>``).

Importing this package (``python -m tools.X`` does so first) applies the thread settings of
:mod:`tools.threads` before anything imports torch.
"""

from tools.threads import configure as _configure_threads

_configure_threads()
