"""Computes the package list that pyproject.toml's package-dir mapping needs.

Why this file exists: the folders hdl/, host/, sim/, dpdk_bridge/ and boards/ install as
subpackages of `gatebook` (pyproject's [tool.setuptools.package-dir]), and setuptools'
automatic discovery cannot remap folders, so every subpackage must be listed. Listing them
by hand would go stale; this walks the folders instead. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

#: Top-level folders installed under `gatebook` (their package-dir entries are in pyproject.toml).
FOLDERS = ("host", "hdl", "sim", "dpdk_bridge", "boards")


def gatebook_packages():
    """Every package the wheel holds: gatebook's own, then each folder's as gatebook.<folder>."""
    packages = find_packages(HERE, include=["gatebook", "gatebook.*"])
    for folder in FOLDERS:
        packages.append(f"gatebook.{folder}")
        packages += [f"gatebook.{folder}.{sub}" for sub in find_packages(HERE / folder)]
    return packages


setup(packages=gatebook_packages())
