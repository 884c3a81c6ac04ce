"""For scrapyd-deploy, which builds the project egg with ``setup.py bdist_egg``: the metadata is in pyproject.toml."""

from setuptools import setup

setup()
