"""The Debian packages (``debian/``): what each holds, what it depends on, how it
installs and goes.

Most checks read the source tree and take no time. One builds the packages
(``scripts/package build``, a few seconds; it needs debian/control's build
dependencies, which scripts/check installs) and reads what the build made: the
files of each package and its maintainer scripts. CI's package step
(``scripts/package check``) goes further: it installs them into a fresh Debian 12
and runs the end-to-end tests against the installed command there.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

from nm_cloud_setup import __version__
from tests.support.requirements import REQUIRE_ALL, need
from tests.test_architecture import imports, modules, third_party

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ROOT / "debian"
PACKAGES = ("nm-cloud-setup", "nm-cloud-metadata-service", "nm-cloud-setup-emulator")
# What setup.cfg requires (PyPI's names), as Debian packages them.
DEBIAN_NAMES = {"dbus-next": "python3-dbus-next", "pyroute2": "python3-pyroute2",
                "tenacity": "python3-tenacity", "click": "python3-click",
                "PyYAML": "python3-yaml", "aiohttp": "python3-aiohttp"}
# What the modules import (top-level names), as Debian packages it.
DEBIAN_MODULES = {"dbus_next": "python3-dbus-next", "pyroute2": "python3-pyroute2",
                  "tenacity": "python3-tenacity", "click": "python3-click",
                  "yaml": "python3-yaml", "aiohttp": "python3-aiohttp"}
# Where make install-data puts units and udev rules, for the *.install files' variables.
MAKE_DIRS = {"NCS_UNITDIR": "usr/lib/systemd/system", "NCS_UDEVDIR": "usr/lib/udev"}
SITE = f"usr/lib/python3.{sys.version_info[1]}/dist-packages"


def control() -> Dict[str, Dict[str, str]]:
    """debian/control's paragraphs by Package (the source's under "source")."""
    paragraphs = {}
    for block in (DEBIAN / "control").read_text().split("\n\n"):
        fields: Dict[str, str] = {}
        name = None
        for line in block.splitlines():
            if line[:1].isspace() and name:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        if fields:
            paragraphs[fields.get("Package", "source")] = fields
    return paragraphs


def relations(field: str) -> Dict[str, str]:
    """A Depends-like field: package -> its version constraint ("" when none)."""
    found = {}
    for item in field.replace("\n", " ").split(","):
        match = re.fullmatch(r"\s*([a-z0-9.+-]+)(?::any)?\s*(?:\((.*)\))?\s*", item)
        if match:
            found[match.group(1)] = (match.group(2) or "").replace(" ", "")
    return found


def depends(package: str) -> Dict[str, str]:
    return relations(control()[package].get("Depends", ""))


def requirements() -> Dict[str, Dict[str, str]]:
    """setup.cfg's install_requires and extras: group ("" for install_requires) -> name ->
    minimum version."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    groups = {"": config["options"]["install_requires"]}
    groups.update(config["options.extras_require"])
    result = {}
    for group, text in groups.items():
        result[group] = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", line.strip()).groups()
                             for line in text.strip().splitlines())
    return result


def test_each_requirement_is_a_debian_dependency_with_the_same_minimum():
    wanted = requirements()
    for group, package in (("", "nm-cloud-setup"), ("service", "nm-cloud-metadata-service")):
        for name, minimum in wanted[group].items():
            assert name in DEBIAN_NAMES, f"{name}: which Debian package is it? (DEBIAN_NAMES)"
            assert depends(package).get(DEBIAN_NAMES[name]) == f">={minimum}", \
                f"{package} must depend on {DEBIAN_NAMES[name]} (>= {minimum}), as setup.cfg"
    assert control()["nm-cloud-setup"]["Recommends"].rstrip(",") == "network-manager"


def install_patterns() -> Dict[str, List[str]]:
    """debian/PACKAGE.install, its variables given make install-data's directories."""
    result = {}
    for package in PACKAGES:
        lines = (DEBIAN / f"{package}.install").read_text().split("\n")
        result[package] = [re.sub(r"\$\{env:(\w+)\}", lambda m: MAKE_DIRS[m.group(1)], line)
                           for line in lines if line.strip() and not line.startswith("#")]
    return result


def matches(pattern: str, path: str) -> bool:
    """dh_install's reading of a pattern: a glob per path part; a directory takes all below."""
    parts, path_parts = pattern.split("/"), path.split("/")
    return len(parts) <= len(path_parts) and all(
        fnmatch.fnmatchcase(name, glob) for name, glob in zip(path_parts, parts))


def laid_out(tmp_path: Path) -> Set[str]:
    """Every file make install lays out: install-data's, the modules, the commands and the
    package's metadata as pybuild installs them."""
    need("make")
    dest = tmp_path / "root"
    result = subprocess.run(["make", "-C", str(ROOT), "install-data", f"DESTDIR={dest}",
                             "PREFIX=/usr"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    files = {str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir()}
    files |= {f"{SITE}/{p.relative_to(ROOT)}" for p in (ROOT / "nm_cloud_setup").rglob("*.py")}
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"].strip().splitlines()
    files |= {f"usr/bin/{line.split('=')[0].strip()}" for line in scripts}
    return files | {f"{SITE}/nm_cloud_setup-{__version__}.dist-info/METADATA"}


def test_each_file_make_install_lays_out_is_in_exactly_one_package(tmp_path):
    patterns = install_patterns()
    files = laid_out(tmp_path)
    for path in sorted(files):
        owners = [p for p in PACKAGES if any(matches(g, path) for g in patterns[p])]
        assert len(owners) == 1, f"{path} is in {owners or 'no package'} (debian/*.install)"
    for package, globs in patterns.items():
        for glob in globs:
            assert any(matches(glob, path) for path in files), f"{package}.install: {glob}"


def package_modules() -> Dict[str, Set[str]]:
    """package -> the project's modules (dotted, relative) it ships."""
    patterns = install_patterns()
    result: Dict[str, Set[str]] = {p: set() for p in PACKAGES}
    for module, path in modules().items():
        shipped = f"{SITE}/{path.relative_to(ROOT)}"
        for package in PACKAGES:
            if any(matches(glob, shipped) for glob in patterns[package]):
                result[package].add(module)
    return result


def test_each_package_depends_on_what_its_modules_import():
    """Third-party imports are Debian dependencies of the package; the project's modules
    it imports are its own or those of a package it depends on. The service does not
    depend on nm-cloud-setup (whose Recommends would bring NetworkManager to a
    hypervisor): its modules import only each other and the shapes."""
    shipped = package_modules()
    stdlib = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    own_imports, foreign = imports(), third_party()
    for package, names in shipped.items():
        reachable = set(names)
        for other in PACKAGES:
            if other in depends(package):
                reachable |= shipped[other]
        for module in names:
            for name in foreign[module]:
                if name in DEBIAN_MODULES:
                    assert DEBIAN_MODULES[name] in depends(package), (package, module, name)
                elif stdlib is not None:
                    assert name in stdlib, f"{module} imports {name}: which Debian package?"
            missing = own_imports[module] - reachable
            assert not missing, f"{package}: {module} imports {missing}, not in the package"
    assert "nm-cloud-setup" not in depends("nm-cloud-metadata-service")


def test_the_version_is_the_projects():
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    match = re.match(r"nm-cloud-setup \(([^)]+)\) \S+; urgency=\w+$", first)
    assert match, first
    assert match.group(1).split("-")[0] == __version__, "a debian/changelog entry for it"
    for page in (ROOT / "man").iterdir():
        assert f'"nm-cloud-setup {__version__}"' in page.read_text().splitlines()[0], page


def test_every_lintian_override_is_explained():
    for path in DEBIAN.glob("**/*lintian-overrides"):
        previous = ""
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert previous.startswith("#"), f"{path.name}: explain {line!r} above it"
            previous = line


def test_the_source_package_builds_with_debhelper_13_and_no_root():
    source = control()["source"]
    assert "debhelper-compat (= 13)" in source["Build-Depends"]
    assert source["Rules-Requires-Root"] == "no"
    assert (DEBIAN / "source" / "format").read_text().strip() == "3.0 (native)"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The three .debs, built by scripts/package build."""
    need("dpkg-buildpackage")
    unmet = subprocess.run(["dpkg-checkbuilddeps"], cwd=ROOT, capture_output=True, text=True)
    if unmet.returncode != 0:
        reason = f"needs the build dependencies: {unmet.stderr.strip()}"
        pytest.fail(reason) if REQUIRE_ALL else pytest.skip(reason)
    out = tmp_path_factory.mktemp("debs")
    result = subprocess.run([str(ROOT / "scripts" / "package"), "build", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def contents(deb: Path) -> Dict[str, str]:
    """path -> the line of ``dpkg-deb -c`` for it (mode first; a link shows its target)."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    return {line.split(None, 5)[5].split(" -> ")[0].lstrip("."): line
            for line in listing.splitlines()}


def maintscripts(deb: Path, tmp_path: Path) -> Dict[str, str]:
    control_dir = tmp_path / deb.name
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control_dir)], check=True)
    return {p.name: p.read_text() for p in control_dir.iterdir()}


def test_the_built_packages_split_the_modules(built):
    files = {p: contents(next(built.glob(f"{p}_*_all.deb"))) for p in PACKAGES}
    site = "/usr/lib/python3/dist-packages/nm_cloud_setup/"
    parts = {p: {f[len(site):].split("/")[0] for f in files[p] if f.startswith(site)}
             for p in PACKAGES}
    assert parts["nm-cloud-metadata-service"] == {"", "service", "shapes"}
    assert parts["nm-cloud-setup-emulator"] == {"", "emulator"}
    assert not parts["nm-cloud-setup"] & {"service", "shapes", "emulator"}
    # the package's __init__ is nm-cloud-setup's alone: the others are namespace portions
    assert f"{site}__init__.py" in files["nm-cloud-setup"]
    link = files["nm-cloud-setup"]["/usr/lib/NetworkManager/dispatcher.d/pre-up.d/"
                                   "90-nm-cloud-setup.sh"]
    assert link.startswith("l") and link.endswith("-> ../90-nm-cloud-setup.sh"), link
    for path in ("/usr/lib/NetworkManager/dispatcher.d/90-nm-cloud-setup.sh",
                 "/usr/libexec/nm-cloud-setup-hotplug", "/usr/bin/nm-cloud-setup"):
        assert files["nm-cloud-setup"][path].startswith("-rwxr-xr-x"), path


def test_installing_starts_nothing_and_removal_stops_and_cleans(built, tmp_path):
    """No unit is enabled or started on install; an upgrade keeps what runs running and
    try-restarts it afterwards; removal stops the units and deletes the runtime state;
    purge deletes the service's database too."""
    scripts = {p: maintscripts(next(built.glob(f"{p}_*_all.deb")), tmp_path)
               for p in ("nm-cloud-setup", "nm-cloud-metadata-service")}
    for package, found in scripts.items():
        postinst = found["postinst"]
        assert "deb-systemd-helper update-state" in postinst, package  # known, for purge
        assert "was-enabled defaults to true" not in postinst, package  # the enabling snippet
        assert not re.search(r"(deb-systemd-invoke|systemctl)[^\n]* (start|restart) ", postinst)
        restart = re.search(r'if \[ -n "\$2" \]; then\s+deb-systemd-invoke try-restart', postinst)
        assert restart, postinst  # only on an upgrade, only what runs
        assert "stop" not in found.get("preinst", ""), package
        assert re.search(r'"\$1" = remove \].*\n\s+deb-systemd-invoke stop', found["prerm"])
        assert "deb-systemd-helper purge" in found["postrm"], package
    setup, service = scripts["nm-cloud-setup"], scripts["nm-cloud-metadata-service"]
    assert re.search(r'remove\|purge\)\s+rm -rf "\$\{DPKG_ROOT:-\}/run/nm-cloud-setup"',
                     setup["postrm"])
    assert setup["conffiles"].split() == ["/etc/iproute2/rt_protos.d/nm-cloud-setup.conf"]
    assert "/var/lib/private/nm-cloud-metadata" in service["postrm"].split("purge)")[1]


def readme_package_commands() -> List[str]:
    """The README's package block, as scripts/package check reads it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<!-- package:"))
    start = lines.index("```sh", start) + 1
    block = lines[start:lines.index("```", start)]
    return [re.sub(r"\s+#.*$", "", line) for line in block if line.strip()]


def test_ci_runs_the_readme_commands_and_they_name_what_the_build_makes(built):
    build, install = readme_package_commands()
    assert build == "./scripts/package build"  # dist/, as scripts/package check expects
    assert install.startswith("apt-get install ./dist/")
    made = sorted(p.name for p in built.glob(install.split("./dist/", 1)[1]))
    assert made == [f"nm-cloud-setup_{__version__}_all.deb"]
    assert "\nscripts/package check\n" in (ROOT / ".ci" / "run").read_text()
