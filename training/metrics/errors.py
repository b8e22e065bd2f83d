"""The one exception type metrics raise for unusable inputs (a ValueError with a one-line message)."""


from networks.errors import UserError


class MetricError(UserError, ValueError):
    """A metric that cannot run on the given inputs, with a one-line explanation."""
