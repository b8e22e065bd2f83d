"""Command-line tools: thin argument parsing, then a call into the packages (``python -m tools.<name>``)."""
