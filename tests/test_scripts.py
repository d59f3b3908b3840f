"""The README's set-up commands: what CI runs, and how the scripts get root.

The scripts are run as a user without root (``nobody``), once with no sudo on the
PATH and once with a stand-in ``sudo`` that records how it was called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.requirements import require_root

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("demo", "check", "bench")
NOBODY = 65534


def test_ci_runs_the_readme_set_up_block_as_written():
    commands = subprocess.run([str(ROOT / ".ci" / "readme-setup")], capture_output=True,
                              text=True, check=True).stdout.splitlines()
    assert commands == ["./scripts/demo", "./scripts/check"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".ci/readme-setup" in ci and 'bash -c "$command"' in ci
    assert "./scripts/check" not in ci  # only through the README


def test_readme_shows_no_sudo_prefix():
    """Commands shown work as written as root (no sudo there) and as a user (the
    scripts re-run themselves through sudo)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        assert not line.lstrip("`$ ").startswith("sudo "), line


@pytest.fixture
def unprivileged_copy():
    """The scripts in a directory that ``nobody`` can read, and a PATH directory
    holding only what they need before they check for root."""
    require_root(with_nm=False)
    top = Path(tempfile.mkdtemp(prefix="ncs-scripts-"))
    try:
        shutil.copytree(ROOT / "scripts", top / "repo" / "scripts")
        bin_dir = top / "bin"
        bin_dir.mkdir()
        for tool in ("bash", "dirname", "basename", "id", "cat"):
            os.symlink(shutil.which(tool), bin_dir / tool)
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top)


def _as_nobody(top: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "/usr/bin/env", "-i", f"PATH={top / 'bin'}", f"HOME={top}",
         f"./scripts/{script}", *args],
        cwd=top / "repo", capture_output=True, text=True, timeout=30)


@pytest.mark.root
@pytest.mark.parametrize("script", SCRIPTS)
def test_without_root_or_sudo_it_says_what_is_missing(unprivileged_copy, script):
    result = _as_nobody(unprivileged_copy, script)
    assert result.returncode == 1
    assert f"{script}: needs root" in result.stderr
    assert "sudo is not installed" in result.stderr


@pytest.mark.root
@pytest.mark.parametrize("script", SCRIPTS)
def test_without_root_it_runs_itself_again_through_sudo(unprivileged_copy, script):
    record = unprivileged_copy / "sudo-args"
    sudo = unprivileged_copy / "bin" / "sudo"
    sudo.write_text(f'#!{shutil.which("bash")}\nprintf "%s\\n" "$@" > {record}\n')
    sudo.chmod(0o755)
    record.touch()
    record.chmod(0o666)
    result = _as_nobody(unprivileged_copy, script, "-k", "two words")
    assert result.returncode == 0, result.stderr
    assert "running it again through sudo" in result.stderr
    script_path = unprivileged_copy / "repo" / "scripts" / script
    assert record.read_text().splitlines() == ["--", str(script_path), "-k", "two words"]


def test_scripts_pass_shellcheck():
    from tests.support.requirements import need

    need("shellcheck")
    paths = [ROOT / "scripts" / name
             for name in (*SCRIPTS, "setup.sh", "package", "mutation", "coverage")]
    paths += [ROOT / ".ci" / "run", ROOT / ".ci" / "readme-setup"]
    result = subprocess.run(["shellcheck", "-x", *map(str, paths)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
