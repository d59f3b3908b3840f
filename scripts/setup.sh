# Shared by scripts/demo and scripts/check (sourced, not run): install what is
# missing on a Debian/Ubuntu machine, and a virtual environment in .venv.
# shellcheck shell=bash

SYSTEM_PACKAGES="iproute2 dnsmasq-base network-manager dbus-daemon systemd shellcheck mandoc make"
# The runtime libraries of upstream's nm-cloud-setup binary, which the fidelity tests
# run side by side with this project (harness/upstream.py).
SYSTEM_PACKAGES="$SYSTEM_PACKAGES libnm0 libcurl4 libjansson4"
# cloud-init: its EC2 and OpenStack readers are run inside test VM namespaces (never at boot).
SYSTEM_PACKAGES="$SYSTEM_PACKAGES cloud-init"
# The metadata service's tests: a PostgreSQL cluster of their own (initdb and pg_ctl under
# a temporary directory; the machine's own cluster is never started), and nftables for
# the container behind NAT inside a test VM.
SYSTEM_PACKAGES="$SYSTEM_PACKAGES postgresql nftables"
# Debian 13's NetworkManager (1.52), the second daemon the tests run against, is built
# with debootstrap and kept outside the repository (the path nm_daemon.py names).
SYSTEM_PACKAGES="$SYSTEM_PACKAGES debootstrap"
# keepalived: two test VMs share virtual IPs with it (tests/e2e/test_keepalived.py); its
# own unit is kept off, as NetworkManager's.
SYSTEM_PACKAGES="$SYSTEM_PACKAGES keepalived"
NM_TRIXIE_ROOT=/var/cache/nm-cloud-setup-tests/trixie
# A fresh Debian 12 the packages are installed into (scripts/package check), built
# once with debootstrap like the tree above, and copied for each check.
BOOKWORM_ROOT=/var/cache/nm-cloud-setup-tests/bookworm
DEBIAN_MIRROR="${NCS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CLOUD_INIT_UNITS="cloud-init-local.service cloud-init.service cloud-config.service cloud-final.service cloud-init-hotplugd.socket"

# Root is needed (network namespaces, NetworkManager inside one, apt-get). Not
# root: run the same script again through sudo, with the same arguments; with no
# sudo either, say what is missing. Call it after `cd` to the repository's top.
need_root() {
    [ "$(id -u)" -eq 0 ] && return 0
    local self
    self="$PWD/scripts/$(basename "$0")"
    if command -v sudo >/dev/null 2>&1; then
        echo "$(basename "$0"): needs root; running it again through sudo" >&2
        exec sudo -- "$self" "$@"
    fi
    echo "$(basename "$0"): needs root (it creates network namespaces and starts" \
         "NetworkManager inside one), and sudo is not installed: run it as root," \
         "or install sudo and run it as a user allowed to use it" >&2
    exit 1
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
    case "$missing" in
        # cloud-init's postinst enables its boot units: this file keeps its systemd
        # generator from ever running them on this machine (it would rewrite the
        # network configuration at the next boot).
        *cloud-init*) mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled;;
    esac
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
    case "$missing" in
        *keepalived*)
            if [ -d /run/systemd/system ]; then
                systemctl disable keepalived.service >/dev/null 2>&1 || true
            fi;;
    esac
    case "$missing" in
        *cloud-init*)
            # shellcheck disable=SC2086 # a list of unit names, split on purpose
            systemctl disable $CLOUD_INIT_UNITS >/dev/null 2>&1 || true;;
    esac
    case "$missing" in
        # The package's own cluster stays stopped (policy-rc.d above) and off at boot.
        *postgresql*)
            if [ -d /run/systemd/system ]; then
                systemctl disable postgresql.service >/dev/null 2>&1 || true
            fi;;
    esac
}

# What building the Debian packages needs (debian/control's Build-Depends and
# build-essential), from Debian: the test suite builds them (tests/test_debian.py).
ensure_deb_build_deps() {
    dpkg-checkbuilddeps >/dev/null 2>&1 && return 0
    echo ">> installing the Debian packages' build dependencies (apt-get build-dep ./)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ > /dev/null
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

ensure_nm_trixie() {
    [ -x "$NM_TRIXIE_ROOT/usr/sbin/NetworkManager" ] && return 0
    mkdir -p "$(dirname "$NM_TRIXIE_ROOT")"
    (
        flock 9  # one build, however many checks start at once
        [ -x "$NM_TRIXIE_ROOT/usr/sbin/NetworkManager" ] && exit 0
        echo ">> building Debian 13 with NetworkManager 1.52 in $NM_TRIXIE_ROOT (about a minute)"
        rm -rf "$NM_TRIXIE_ROOT.tmp"
        debootstrap --variant=minbase --include=network-manager,dbus,iproute2 trixie \
            "$NM_TRIXIE_ROOT.tmp" http://deb.debian.org/debian > "$NM_TRIXIE_ROOT.log" 2>&1 \
            || { tail -20 "$NM_TRIXIE_ROOT.log" >&2; exit 1; }
        mv "$NM_TRIXIE_ROOT.tmp" "$NM_TRIXIE_ROOT"
    ) 9> "$NM_TRIXIE_ROOT.lock"
}

# A minimal Debian 12 with systemd as init (systemd-analyze is there) and Debian's
# own archive, security updates included, as its only package source.
ensure_bookworm_root() {
    [ -x "$BOOKWORM_ROOT/usr/bin/systemd-analyze" ] && return 0
    mkdir -p "$(dirname "$BOOKWORM_ROOT")"
    (
        flock 9  # one build, however many checks start at once
        [ -x "$BOOKWORM_ROOT/usr/bin/systemd-analyze" ] && exit 0
        echo ">> building a fresh Debian 12 in $BOOKWORM_ROOT (about a minute)"
        rm -rf "$BOOKWORM_ROOT.tmp"
        debootstrap --variant=minbase --include=systemd-sysv bookworm "$BOOKWORM_ROOT.tmp" \
            "$DEBIAN_MIRROR" > "$BOOKWORM_ROOT.log" 2>&1 \
            || { tail -20 "$BOOKWORM_ROOT.log" >&2; exit 1; }
        printf 'deb %s %s main\n' "$DEBIAN_MIRROR" bookworm "$DEBIAN_MIRROR" bookworm-updates \
            http://deb.debian.org/debian-security bookworm-security \
            > "$BOOKWORM_ROOT.tmp/etc/apt/sources.list"
        rm -f "$BOOKWORM_ROOT.tmp/var/cache/apt/archives/"*.deb
        mv "$BOOKWORM_ROOT.tmp" "$BOOKWORM_ROOT"
    ) 9> "$BOOKWORM_ROOT.lock"
}
