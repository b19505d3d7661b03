"""The one error a data set that cannot be loaded raises, so callers catch one type."""


class DataError(ValueError):
    """Data that cannot be loaded as asked; the message names the path and what was expected."""
