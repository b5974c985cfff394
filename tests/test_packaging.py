"""An installed Gatebook owns exactly one top-level name, `gatebook`.

The folders hdl/, host/, sim/, dpdk_bridge/ and boards/ stay at the top of the checkout but
install as gatebook.hdl, gatebook.host, ... (pyproject.toml's package-dir, setup.py's package
list). These tests check both halves: no module imports the folders by their bare names
(which would only work from a checkout), and a built wheel holds nothing but `gatebook`.
"""

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("host", "hdl", "sim", "dpdk_bridge", "boards")
# Not part of the source tree: build outputs, caches, the venv, version control.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "sim_build", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".hypothesis", "dist")


def _python_files():
    for top in (*FOLDERS, "gatebook", "tests", "scripts"):
        yield from sorted((ROOT / top).rglob("*.py"))
    yield from ROOT.glob("setup.py")


def bare_imports(source, filename="<source>"):
    """(line, module) of every absolute import whose first part is one of FOLDERS."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in FOLDERS]
    return found


def test_the_scan_finds_bare_imports():
    # The scan below is only worth something if it catches each form of the old imports.
    source = ("import host.engine\nfrom sim.matcher import cycles\nfrom boards import BOARDS\n"
              "import os, dpdk_bridge\nfrom . import hdl\nfrom gatebook.host import engine\n"
              "def f():\n    from hdl.matcher import Matcher\n")
    assert bare_imports(source) == [(1, "host.engine"), (2, "sim.matcher"), (3, "boards"),
                                    (4, "dpdk_bridge"), (8, "hdl.matcher")]


def test_no_module_imports_a_folder_by_its_bare_name():
    files = list(_python_files())
    assert len(files) > 100          # the walk found the tree, not an empty folder
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in files
                 for line, module in bare_imports(path.read_text(), str(path))]
    assert offenders == []


def _build_wheel(work, *, compile_engine):
    """The file names in a wheel built from a copy of the source tree (so no build/ output
    lands in the checkout and no stale build/lib from an older layout slips into it).

    Without `compile_engine` the build runs where Cython cannot be imported (a package
    of that name that refuses to import comes first on the path): setup.py's documented
    pure-Python fallback, which packs the same files in seconds instead of compiling
    the engine for a minute.
    """
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    environment = dict(os.environ)
    if not compile_engine:
        hidden = work / "no_cython" / "Cython"
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text('raise ImportError("Cython hidden by the test")\n')
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(hidden.parent)] + [path for path in [os.environ.get("PYTHONPATH")] if path])
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(work / "out"), str(source)],
                          capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = (work / "out").glob("gatebook-*.whl")
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The names in a wheel of the pure-Python build (see `_build_wheel`)."""
    return _build_wheel(tmp_path_factory.mktemp("wheel"), compile_engine=False)


@pytest.mark.long
def test_the_compiled_wheel_holds_the_same_files_and_the_compiled_engine(wheel, tmp_path):
    """The wheel `pip install .` builds, with Cython: the pure build's files, plus each
    compiled engine module and the digest of the source it was compiled from."""
    from gatebook.host.compiled import COMPILED_MODULES, DIGEST_SUFFIX
    compiled = _build_wheel(tmp_path, compile_engine=True)
    extensions = {name for name in compiled - wheel if not name.split("/")[0].endswith(".dist-info")}
    for module in COMPILED_MODULES:
        built = [name for name in extensions
                 if name.startswith(f"gatebook/host/{module}.") and name.endswith(".so")]
        assert len(built) == 1, (module, sorted(extensions))
        assert f"{built[0]}{DIGEST_SUFFIX}" in extensions
    assert len(extensions) == 2 * len(COMPILED_MODULES), sorted(extensions)
    assert {name for name in wheel - compiled if ".dist-info/" not in name} == set()


def test_the_wheel_holds_one_top_level_name(wheel):
    tops = {name.split("/")[0] for name in wheel}
    [dist_info] = [top for top in tops if top.endswith(".dist-info")]
    assert dist_info.startswith("gatebook-")
    assert tops == {"gatebook", dist_info}


def test_the_wheel_holds_every_folder_under_gatebook(wheel):
    assert "gatebook/host/engine.py" in wheel
    assert "gatebook/host/ouch/sessions.py" in wheel
    assert "gatebook/wire/__init__.py" in wheel
    for folder in FOLDERS:
        assert f"gatebook/{folder}/__init__.py" in wheel
    # The compiled gateway's C sources: dpdk_bridge/fast.py compiles them where installed.
    assert "gatebook/dpdk_bridge/_ouchfast.c" in wheel
    parts = {path.name for path in (ROOT / "dpdk_bridge" / "ouchfast").glob("*.c")}
    assert parts and {f"gatebook/dpdk_bridge/ouchfast/{name}" for name in parts} <= wheel
    # The DPDK bridge's C: dpdk_bridge/build.py compiles it where installed.
    bridge = {path.name for path in (ROOT / "dpdk_bridge" / "csrc").iterdir()}
    assert {"bridge.h", "eal_port.c"} <= bridge
    assert {f"gatebook/dpdk_bridge/csrc/{name}" for name in bridge} <= wheel
    if (ROOT / "gatebook" / "py.typed").exists():
        assert "gatebook/py.typed" in wheel
    # Every package the checkout has is in the wheel: setup.py's walk missed none.
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            assert f"gatebook/{init.relative_to(ROOT).as_posix()}" in wheel
