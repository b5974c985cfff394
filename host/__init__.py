"""The host side of Gatebook: the golden-model engine and everything around it."""

# Before any engine module loads: choose its compiled or its source form (host/compiled.py).
from .compiled import install as _install_engine_finder

_install_engine_finder()
