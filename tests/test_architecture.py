"""The package's shape: layers whose imports point down only, no cycles, each third-party
library in one module, the backend contract declared (no probes), no test harness inside.

The layers, bottom up (``docs/development.md`` draws them):

0. values:   ``errors``, ``model`` (and the root package's ``__version__``)
1. core:     ``planning``, ``providers.registry``, ``backends.base``
2. parts:    ``providers``, ``backends.nm``, ``backends.netlink``, ``shapes``: each its own room
3. settings: ``config``
4. pipeline: ``pipeline``
5. fronts:   ``cli`` (the composition root), ``emulator``, ``service``

A module imports modules of its own layer or of lower ones, never of a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nm_cloud_setup"
LAYERS = [  # (layer, module prefixes); the longest prefix wins
    (0, ("", "errors", "model")),
    (1, ("planning", "providers.registry", "backends.base")),
    (2, ("providers", "backends", "shapes")),
    (3, ("config",)),
    (4, ("pipeline",)),
    (5, ("cli", "__main__", "emulator", "service")),
]
# The rooms of the parts layer: none imports another's (cli.py composes them).
ROOMS = ("providers", "backends.nm", "backends.netlink", "shapes")
THIRD_PARTY = {"dbus_next": "backends.nm.dbus", "pyroute2": "backends.netlink.kernel",
               "tenacity": "providers.http", "aiohttp": "service.httpd",
               "yaml": "providers.hetzner", "psycopg2": "service.db_postgres",
               "psycopg": "service.db_postgres",
               "requests": "providers.http"}  # replaced by http.client: nowhere, or there
CLICK_USERS = {"cli", "emulator.__main__", "service.cli", "service.ctl"}  # the command lines


def modules() -> Dict[str, Path]:
    """Dotted module name (relative to the package, "" for the package) -> its file."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _relative(name: str) -> str:
    return "" if name == "nm_cloud_setup" else name[len("nm_cloud_setup."):]


def imports() -> Dict[str, Set[str]]:
    """module -> the project's modules it imports, at any depth (functions, TYPE_CHECKING
    blocks): ``from pkg import mod`` is ``pkg.mod``, ``from mod import name`` is ``mod``."""
    known = modules()
    result = {}
    for module, path in known.items():
        ours = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                ours |= {_relative(a.name) for a in node.names
                         if a.name.split(".")[0] == "nm_cloud_setup"}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                    and node.module.split(".")[0] == "nm_cloud_setup":
                base = _relative(node.module)
                for alias in node.names:
                    full = f"{base}.{alias.name}" if base else alias.name
                    ours.add(full if full in known else base)
        result[module] = ours
    return result


def third_party() -> Dict[str, Set[str]]:
    """module -> the top-level names of what it imports from outside the project."""
    result = {}
    for module, path in modules().items():
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
        result[module] = names - {"nm_cloud_setup"}
    return result


def layer_of(module: str) -> int:
    best, layer = -1, None
    for number, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(f"{prefix}.") or prefix == "") \
                    and len(prefix) > best:
                best, layer = len(prefix), number
    assert layer is not None, module
    return layer


def room_of(module: str) -> str:
    return next((room for room in ROOMS if module == room or module.startswith(f"{room}.")),
                "")


def test_imports_point_down_only():
    for module, ours in imports().items():
        for other in ours:
            assert layer_of(other) <= layer_of(module), f"{module} imports {other}, above it"


def test_the_parts_keep_to_their_rooms():
    """Providers, each backend and the shapes import nothing of one another's."""
    for module, ours in imports().items():
        room = room_of(module)
        for other in ours:
            if room and room_of(other) and room_of(other) != room:
                assert other == "providers.registry", f"{module} imports {other}"


def test_the_pipeline_knows_backends_and_providers_only_by_their_contracts():
    for module, ours in imports().items():
        if module.startswith("pipeline"):
            for other in ours:
                assert not other.startswith("backends.") or other == "backends.base", \
                    f"{module} imports {other}"
                assert not other.startswith("providers.") or other == "providers.registry", \
                    f"{module} imports {other}"


def test_no_import_cycles():
    graph = imports()
    done: Set[str] = set()

    def visit(module: str, path: List[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):]
                                                               + [module]))
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_pure_modules_import_only_values():
    """The pure core: no I/O, no daemon, tested hardest without either."""
    allowed = {
        "model": set(), "errors": set(),
        "planning.tables": set(), "planning.mtu": {"model"},
        "planning.layout": {"model", "planning.mtu", "planning.tables"},
        "planning.delta": {"model"}, "planning.exclusion": {"model"},
        "planning.planner": {"model", "planning.layout", "planning.delta", "planning.tables"},
        "backends.base": {"model", "planning.tables"},
        "backends.nm.settings": {"model", "planning.layout", "planning.delta"},
        "backends.nm.profiles": {"model", "backends.nm.settings"},
        "backends.nm.record": {"model", "planning.delta"},  # the kernel is handed in
        "backends.netlink.ownership": {"model", "planning.delta", "planning.mtu"},
        "backends.netlink.guard": {"model", "planning.tables"},
        "backends.netlink.requests": {"model", "backends.netlink.ownership"},
        "providers.registry": set(),
        "providers.values": {"errors"}, "providers.ipv6": {"errors", "providers.values"},
        "providers.listing": {"errors", "model", "providers.values"},
        "providers.network_data": {"errors", "model", "providers.ipv6", "providers.listing",
                                   "providers.values"},
        "pipeline.cancel": {"errors"},
        "pipeline.dmi": {"providers.registry"},
        "pipeline.outcome": {"model", "pipeline.dmi"},
    }
    found = imports()
    for module, ours in allowed.items():
        assert found[module] - {""} <= ours, f"{module} imports {found[module] - ours}"


def test_shapes_and_the_service_are_rooms_of_their_own():
    for module, ours in imports().items():
        if module.startswith("shapes"):
            assert all(o.startswith("shapes") for o in ours), module
        if module.startswith("service"):  # no emulator, no client side
            assert all(o.split(".")[0] in ("service", "shapes") for o in ours), module
        if module.startswith("emulator"):
            assert all(o.split(".")[0] in ("emulator", "shapes", "service") or
                       o == "providers.registry" for o in ours), module


def test_each_third_party_library_has_one_home():
    for module, names in third_party().items():
        for top in names:
            if top in THIRD_PARTY:
                assert module == THIRD_PARTY[top], f"{module} imports {top}"
            if top == "click":
                assert module in CLICK_USERS, f"{module} imports click"


def test_no_test_harness_in_the_package():
    """The sandbox, lab, NetworkManager daemon and demos live in harness/, outside."""
    for module, names in third_party().items():
        assert not names & {"harness", "tests", "pytest"}, module
    assert (ROOT / "harness").is_dir() and not (PACKAGE / "harness").exists()
    setup = (ROOT / "setup.cfg").read_text()
    assert "include = nm_cloud_setup, nm_cloud_setup.*" in setup


def test_the_harness_stands_apart_from_the_tests():
    """harness/ (sandboxes, daemons, the soak, the demos) is what tests run on: it imports
    neither the tests nor pytest, so the demos and benchmarks run without them."""
    for path in (ROOT / "harness").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("tests", "pytest") for n in names), path


def test_init_files_import_nothing():
    """Imports stay lazy: a package costs nothing until one of its modules is used."""
    for path in modules().values():
        if path.name == "__init__.py":
            tree = ast.parse(path.read_text())
            assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                        and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")], \
                f"{path.relative_to(ROOT)} imports"


def test_no_capability_probes_on_backends():
    """A backend declares its capabilities (backends/base.py); nothing asks getattr."""
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr") and node.args:
                target = ast.unparse(node.args[0])
                assert "backend" not in target, f"{module}: {ast.unparse(node)}"


def test_modules_stay_small():
    for module, path in modules().items():
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{module} has {lines} lines: split it by concept"


def test_yaml_is_imported_only_when_the_hetzner_provider_parses():
    """Not at module level: importing the module (or any other) costs no PyYAML."""
    tree = ast.parse((PACKAGE / "providers" / "hetzner.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not any(n.split(".")[0] == "yaml" for n in names), "module-level yaml import"


def test_only_the_cli_reads_the_environment():
    for module, path in modules().items():
        if module in ("cli",) or module.startswith("emulator."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "os" and node.attr in ("environ", "getenv")), \
                    f"{module} reads the environment"
