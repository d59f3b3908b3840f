# Shared by scripts/demo and scripts/check (sourced, not run): install what is
# missing on a Debian/Ubuntu machine, and a virtual environment in .venv.
# shellcheck shell=bash

SYSTEM_PACKAGES="iproute2 dnsmasq-base network-manager dbus-daemon systemd shellcheck mandoc make"

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0: run as root (sudo $0): it creates network namespaces and starts NetworkManager inside one" >&2
        exit 1
    fi
}

ensure_system_packages() {
    local missing="" pkg
    for pkg in $SYSTEM_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"
    [ -z "$missing" ] && return 0
    echo ">> installing:$missing"
    # Keep apt from starting NetworkManager on this machine's own NICs: the
    # project only ever runs it inside a namespace it made.
    local guard=/usr/sbin/policy-rc.d made_guard=""
    if [ ! -e "$guard" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard" && made_guard=1
    fi
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names, split on purpose
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    [ -n "$made_guard" ] && rm -f "$guard"
    case "$missing" in
        *network-manager*)
            if [ -d /run/systemd/system ]; then
                systemctl disable NetworkManager.service >/dev/null 2>&1 || true
            fi;;
    esac
}

ensure_venv() {
    local stamp=.venv/.installed-from
    local want
    want="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo ">> installing the project and its test tools into .venv"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e '.[test]'
        echo "$want" > "$stamp"
    fi
}
