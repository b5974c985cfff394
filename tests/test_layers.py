"""No module imports a layer above its own: the table in docs/architecture.md, "Layers", checked.

Every module of the installed package (gatebook/ and the folders installed as gatebook.host,
gatebook.hdl, ...) is parsed with `ast`; each import — at the top, inside a function, relative,
or a module named in a string (`importlib.import_module("gatebook.host.wal")`, the CLI's list
of subcommand modules) — is put in its layer and checked against what the importer's layer
may use. A failure names the file, the line and the import.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Folder in the checkout -> the package it installs as (pyproject.toml's package-dir).
PACKAGES = {"gatebook": "gatebook", "host": "gatebook.host", "hdl": "gatebook.hdl",
            "sim": "gatebook.sim", "dpdk_bridge": "gatebook.dpdk_bridge",
            "boards": "gatebook.boards"}

# host/ modules that make up the engine layer; every other host module is a service.
ENGINE_MODULES = {"engine", "engine_admin", "engine_state", "book", "validation", "sequencer", "clock",
                  "symbols", "views", "stats", "flow", "bench", "runtime", "compiled"}

# host/ folders that each hold one order-entry protocol (host/net/order_entry_api.py): above
# the services (the log and the exchange loop must not know any protocol), below the assembly.
PROTOCOL_FOLDERS = {"ouch", "fix"}

# host/ modules that assemble an exchange from services and protocols.
ASSEMBLY_MODULES = {"builder", "protocols"}

# The command line: the top layer, whatever folder the subcommand lives in.
CLI_PACKAGES = ("gatebook.cli", "gatebook.host.cli", "gatebook.boards.cli")

# Layer -> the layers its modules may import (its own included). docs/architecture.md's table.
MAY_IMPORT = {
    "wire":        {"wire"},
    "engine":      {"wire", "engine"},
    "dpdk_bridge": {"wire", "dpdk_bridge"},
    "hdl":         {"wire", "hdl"},
    "services":    {"wire", "engine", "dpdk_bridge", "services"},
    "order entry": {"wire", "engine", "dpdk_bridge", "services", "order entry"},
    "assembly":    {"wire", "engine", "dpdk_bridge", "services", "order entry", "assembly"},
    "api":         {"wire", "engine", "services", "assembly", "api"},
    "boards":      {"wire", "hdl", "boards"},
    "sim":         {"wire", "engine", "dpdk_bridge", "hdl", "services", "boards", "sim"},
    "cli":         {"wire", "engine", "dpdk_bridge", "hdl", "services", "order entry", "assembly",
                    "api", "boards", "sim", "cli"},
}

# (importing module, imported module) pairs allowed for now, each with why it waits.
KNOWN_EXCEPTIONS = {}


def layer(module):
    """The layer of the dotted `module` name (under `gatebook`)."""
    parts = module.split(".")
    if any(module == p or module.startswith(p + ".") for p in CLI_PACKAGES):
        return "cli"
    if parts == ["gatebook"]:
        return "api"
    if parts[1] == "wire":
        return "wire"
    if parts[1] == "host":
        if len(parts) == 2 or parts[2] in ENGINE_MODULES:
            return "engine"
        if parts[2] in PROTOCOL_FOLDERS:
            return "order entry"
        return "assembly" if parts[2] in ASSEMBLY_MODULES else "services"
    if parts[1] in ("dpdk_bridge", "hdl", "boards", "sim"):
        return parts[1]
    raise ValueError(f"{module}: no layer; add it to tests/test_layers.py and "
                     f"docs/architecture.md")


def _modules():
    """{dotted name: (path, is a package)} of every module the package installs."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            if folder == "gatebook" and relative.parts[0] in PACKAGES:
                continue
            parts = [p for p in relative.parts if p != "__init__"]
            found[".".join([package, *parts])] = (path, path.name == "__init__.py")
    return found


def _docstrings(tree):
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def imports(source, module, is_package, known):
    """(line, imported module) of every `gatebook` module that `source` (module `module`) uses.

    `known` is the set of existing module names: `from gatebook.host import engine` imports
    the module `gatebook.host.engine`, `from gatebook.wire import enums` likewise, while
    `from gatebook.wire.enums import Side` imports `gatebook.wire.enums`.
    """
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in known else base))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and "." in node.value and node.value in known and id(node) not in docstrings):
            # a dotted module name (a bare "gatebook" is more often a directory or a prog name)
            found.append((node.lineno, node.value))
    return [(line, name) for line, name in found
            if name == "gatebook" or name.startswith("gatebook.")]


def violations(modules, root=ROOT, known=None):
    """'path:line: importer (layer) imports imported (layer)' for each import the table forbids.

    Paths in the messages are relative to `root`; `known` (default: `modules`' names) are the
    module names that exist.
    """
    known = set(modules) if known is None else known
    found = []
    for module, (path, is_package) in sorted(modules.items()):
        own = layer(module)
        for line, imported in imports(path.read_text(), module, is_package, known):
            theirs = layer(imported)
            if theirs not in MAY_IMPORT[own] and (module, imported) not in KNOWN_EXCEPTIONS:
                found.append(f"{path.relative_to(root)}:{line}: {module} ({own} layer) imports "
                             f"{imported} ({theirs} layer), which the {own} layer may not use")
    return found


def test_every_module_has_a_layer():
    modules = _modules()
    assert len(modules) > 100                 # the walk found the tree, not an empty folder
    assert {layer(name) for name in modules} == set(MAY_IMPORT)


def test_no_module_imports_a_layer_above_its_own():
    assert violations(_modules()) == []


def test_known_exceptions_are_still_needed():
    """An exception whose import is gone is taken off the list, so the list only shrinks."""
    modules = _modules()
    known = set(modules)
    used = {(module, imported) for module, (path, is_package) in modules.items()
            for _, imported in imports(path.read_text(), module, is_package, known)}
    assert set(KNOWN_EXCEPTIONS) - used == set()


def test_the_scan_sees_every_form_of_import(tmp_path):
    """The check is only worth something if it catches each way a module can reach upwards."""
    known = {"gatebook", "gatebook.host", "gatebook.host.engine", "gatebook.host.net",
             "gatebook.host.net.link", "gatebook.host.cli.run", "gatebook.sim.runner",
             "gatebook.wire", "gatebook.wire.enums"}
    source = ('"""Mentions gatebook.sim.runner in a docstring, which is no import."""\n'
              "import gatebook.host.net.link\n"
              "from gatebook.host import engine\n"
              "from ..host.cli.run import main\n"
              "from .. import sim\n"
              "def f():\n"
              "    from gatebook.wire.enums import Side\n"
              "    return __import__('importlib').import_module('gatebook.sim.runner')\n")
    assert imports(source, "gatebook.hdl.matcher", False, known) == [
        (2, "gatebook.host.net.link"), (3, "gatebook.host.engine"),
        (4, "gatebook.host.cli.run"), (5, "gatebook"), (7, "gatebook.wire.enums"),
        (8, "gatebook.sim.runner")]
    # And `violations` turns them into messages naming the file, the line and both layers.
    hdl = tmp_path / "matcher.py"
    hdl.write_text(source)
    found = violations({"gatebook.hdl.matcher": (hdl, False)}, root=tmp_path, known=known)
    assert found[0] == ("matcher.py:2: gatebook.hdl.matcher (hdl layer) imports "
                        "gatebook.host.net.link (services layer), which the hdl layer may not use")
    assert [message.split(":")[1] for message in found] == ["2", "3", "4", "5", "8"]


def _documented_table():
    """{layer: layers it may import} from docs/architecture.md's "Layers" table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    names = {"public api": "api"}
    table = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "---"):
            continue
        own = names.get(cells[0].lower(), cells[0].lower())
        if cells[2] == "everything":
            table[own] = set(MAY_IMPORT)
        elif cells[2].startswith("nothing"):
            table[own] = {own}
        else:
            table[own] = {own} | {names.get(n.strip().lower(), n.strip().lower())
                                  for n in cells[2].split(",")}
    return table


def test_the_documented_table_is_the_one_checked():
    """docs/architecture.md tells users the layering; this keeps it the one this test enforces."""
    assert _documented_table() == MAY_IMPORT
