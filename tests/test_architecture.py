"""Dependency direction, and each third-party library in exactly one module."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

PACKAGE = Path(__file__).resolve().parent.parent / "nm_cloud_setup"
THIRD_PARTY = {"requests": "providers.http", "dbus_next": "backends.nm.dbus",
               "pyroute2": "backends.netlink.kernel",
               "tenacity": "providers.http", "aiohttp": "service.httpd",
               "yaml": "providers.hetzner"}
CLICK_USERS = {"cli", "emulator.__main__", "service.cli"}  # command lines


def imports() -> Dict[str, Set[str]]:
    """module (dotted, relative to the package) -> top-level names it imports."""
    result = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        result[module] = names
    return result


def test_each_third_party_library_has_one_home():
    for module, names in imports().items():
        for name in names:
            top = name.split(".")[0]
            if top in THIRD_PARTY:
                assert module == THIRD_PARTY[top], f"{module} imports {top}"
            if top == "click":
                assert module in CLICK_USERS, f"{module} imports click"


def test_yaml_is_imported_only_when_the_hetzner_provider_parses():
    """Not at module level: importing the module (or any other) costs no PyYAML."""
    tree = ast.parse((PACKAGE / "providers" / "hetzner.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not any(n.split(".")[0] == "yaml" for n in names), "module-level yaml import"


def test_new_modules_stay_in_their_layer():
    found = imports()
    assert {n for n in found["pipeline.dmi"] if n.startswith("nm_cloud_setup")} <= {
        "nm_cloud_setup.providers.registry", "nm_cloud_setup.providers"}
    assert {n for n in found["pipeline.choice"] if n.startswith("nm_cloud_setup")} <= {
        "nm_cloud_setup.errors", "nm_cloud_setup.providers"}


def test_layers():
    for module, names in imports().items():
        ours = {n[len("nm_cloud_setup."):] for n in names if n.startswith("nm_cloud_setup.")}
        if module in ("model", "errors"):
            assert not ours, f"{module} must import nothing of the project"
        if module == "plan":
            assert ours <= {"model"}
        if module == "nm_settings":  # pure: plain values in and out, no D-Bus
            assert ours <= {"model", "plan", "config"}, ours
        if module == "outcome":
            assert ours <= {"model", "dmi"}, ours
        if module == "cancel":
            assert ours <= {"errors"}, ours
        if module in ("apply", "survey"):  # any backend, through the run's protocol
            assert ours <= {"plan", "model", "errors", "outcome", "cancel", "survey", "run",
                            "new_profiles"}, ours
        if module == "nm_record":  # no D-Bus, no netlink: the kernel is handed in
            assert ours <= {"plan", "model"}, ours
        if module == "providers.ipv6":
            assert ours <= {"errors"}, ours
        if module.startswith("providers"):
            assert not ours & {"nm", "netlink", "run", "cli"}, module
        if module == "providers.values":  # pure validators
            assert ours <= {"errors"}, module
        if module == "providers.listing":  # pure: reading NIC lists
            assert ours <= {"errors", "model", "config", "providers.values"}, module
        if module.startswith("shapes"):  # pure: shared by the emulator and the service
            assert all(o.startswith("shapes") for o in ours), module
        if module.startswith("service"):  # its own room: no emulator, no client side
            assert not any(o.split(".")[0] in ("emulator", "providers", "nm", "netlink", "run",
                                               "cli", "http_client") for o in ours), module
        if module in ("nm", "netlink"):
            assert not any(o.startswith("providers") for o in ours), module
        if module == "nm_profiles":  # pure: the profiles this tool makes, plain values
            assert ours <= {"model", "nm_settings"}, ours
        if module == "nm_made":  # over nm.py's plain calls: no D-Bus, no pipeline
            assert ours <= {"model", "errors", "nm_profiles", "nm_settings", "config"}, ours
        if module == "netlink_requests":  # pure: pyroute2's arguments, ip command lines
            assert ours <= {"model", "ownership"}, ours
        if module == "new_profiles":  # the pipeline's side: backends are passed in
            assert ours <= {"model", "errors", "plan"}, ours
        if module == "providers.network_data":  # pure: OpenStack's document read
            assert ours <= {"config", "errors", "model", "providers.ipv6",
                            "providers.listing", "providers.values"}, ours
            assert not ours & {"run", "cli", "http_client"}, module


def test_only_the_cli_reads_the_environment():
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module in ("cli",) or module.startswith("emulator."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "os" and node.attr in ("environ", "getenv")), \
                    f"{module} reads the environment"
