"""The package list for pyproject's package-dir mapping, and the compiled golden engine.

Why this file exists:

- the folders hdl/, host/, sim/, dpdk_bridge/ and boards/ install as subpackages of
  `gatebook` (pyproject's [tool.setuptools.package-dir]), and setuptools' automatic
  discovery cannot remap folders, so every subpackage must be listed. Listing them by hand
  would go stale; this walks the folders instead;
- the golden engine's own source (host/engine.py, book.py, validation.py) is compiled with
  Cython in pure-Python mode: the same .py files, typed by the .pxd beside each where
  typing pays. `pip install .` and `pip install -e .` both build them; the .py files install
  too, and `GATEBOOK_PURE_PYTHON=1` imports those instead (gatebook/host/__init__.py). With
  no Cython or no C compiler the build still succeeds, without the compiled modules.

Beside each compiled module the build writes `<module file>.source-sha256`, the digest of
the .py (and .pxd) it was compiled from, so an import can tell a compiled module that no
longer matches its source and fall back to the source. Everything else is in pyproject.toml.
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

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


def _load_by_path(name, path):
    # host/compiled.py imports only the standard library, so the build can use it without
    # importing the package (whose dependencies need not be installed yet).
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Which host/ modules are compiled, and how their source digest is made (one definition,
#: shared with the import-time check).
COMPILED = _load_by_path("_gatebook_compiled", HERE / "host" / "compiled.py")

#: Modules in host/'s subpackages compiled from their own source (path under host/, no .py).
SUBPACKAGE_MODULES = ("risk/gate", "wal/batch", "hybrid/exchange", "hybrid/frontend")


class BuildExtWithDigest(build_ext):
    """build_ext that records, beside each compiled engine module, the source digest.

    Both where the build puts the module and, for an editable install (`pip install -e .`,
    which builds elsewhere and copies the module into host/), beside the copy.
    """

    def build_extension(self, ext):
        super().build_extension(ext)        # an optional extension's failure raises past this
        _record_digest(Path(self.get_ext_fullpath(ext.name)), ext)
        self.built_now = getattr(self, "built_now", set()) | {ext.name}

    def copy_extensions_to_source(self):
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            if ext.name not in getattr(self, "built_now", ()):
                continue                    # not built (no compiler): its old digest stays
            package, _, _ = ext.name.rpartition(".")
            name = Path(self.get_ext_filename(ext.name)).name
            _record_digest(Path(build_py.get_package_dir(package)) / name, ext)


def _record_digest(built, ext):
    *package, module = ext.name.split(".")[1:]      # gatebook.host.risk.gate: host/risk, gate
    digest = COMPILED.source_digest(HERE.joinpath(*package), module)
    Path(f"{built}{COMPILED.DIGEST_SUFFIX}").write_text(digest + "\n")


def engine_extensions():
    """The compiled engine modules, or [] when Cython is not installed."""
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("setup.py: Cython not installed; the engine installs as pure Python only")
        return []
    extensions = [Extension(f"gatebook.host.{module}", [f"host/{module}.py"],
                            # No C compiler: the package still builds, pure Python only.
                            optional=True)
                  for module in COMPILED.COMPILED_MODULES]
    # Modules of host/'s subpackages compiled from their own source too; each subpackage's
    # loader picks the form (host/risk/loading.py for the gate).
    extensions += [Extension(f"gatebook.host.{path.replace('/', '.')}", [f"host/{path}.py"],
                             optional=True)
                   for path in SUBPACKAGE_MODULES]
    build = HERE / "build" / "cython"
    return cythonize(extensions, build_dir=str(build), quiet=True,
                     include_path=[str(_cimport_tree(build / "include"))],
                     compiler_directives={"language_level": 3})


def _cimport_tree(root):
    """A folder where `cimport gatebook.host.book` finds host/book.pxd.

    Cython finds a cimported module's .pxd by its package path, and host/ installs as
    gatebook/host (pyproject's package-dir), so the .pxd files are copied to that path.
    """
    package = root / "gatebook" / "host"
    package.mkdir(parents=True, exist_ok=True)
    for init in (root / "gatebook" / "__init__.pxd", package / "__init__.pxd"):
        init.write_text("")
    for pxd in (HERE / "host").rglob("*.pxd"):
        target = package / pxd.relative_to(HERE / "host")
        for folder in target.relative_to(package).parents:   # each subpackage's __init__.pxd
            (package / folder).mkdir(parents=True, exist_ok=True)
            (package / folder / "__init__.pxd").write_text("")
        target.write_bytes(pxd.read_bytes())
    return root


setup(packages=gatebook_packages(), ext_modules=engine_extensions(),
      cmdclass={"build_ext": BuildExtWithDigest})
