"""Packaging for scrapyd-deploy: the project egg with its settings entry point and the record schema."""

from setuptools import find_packages, setup

setup(
    name="mayadeen",
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={"mayadeen": ["schema/*.json"]},
    entry_points={"scrapy": ["settings = mayadeen.settings"]},
    python_requires=">=3.11",
)
