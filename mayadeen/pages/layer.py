"""The page objects' layers: each read once per page, on first use."""

from __future__ import annotations


class layer:  # noqa: N801 - used like the decorator it stands for
    """``functools.cached_property`` without its lock (Python 3.11 takes one per first read): a page
    object is read by one thread, and each of its dozen layers is read once per page."""

    def __init__(self, read):
        self.read, self.name = read, read.__name__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, page, owner=None):
        if page is None:
            return self
        value = page.__dict__[self.name] = self.read(page)
        return value
