import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-long", action="store_true", default=False,
                     help="also run tests marked long (minutes each)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-long") or os.environ.get("GATEBOOK_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long test: run with --run-long or GATEBOOK_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
