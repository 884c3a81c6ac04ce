"""The mayadeen crawler: Al Mayadeen English item pages as exact, normalised records."""

__version__ = "0.10.0"
