# make install [DESTDIR=...] [PREFIX=/usr]: the package, units, dispatcher script, udev rule,
# man pages. install-data: all of it but the Python package (debian/rules uses it).
# make deb: the Debian packages, in dist/ (scripts/package build).
PREFIX ?= /usr
DESTDIR ?=
PYTHON ?= python3
# Packagers building offline: PIP_FLAGS=--no-build-isolation (needs setuptools and wheel).
PIP_FLAGS ?=
BINDIR = $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DISPATCHERDIR ?= $(PREFIX)/lib/NetworkManager/dispatcher.d
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

.PHONY: all check demo install install-python install-data deb clean

all:
	@echo "targets: check (tests, as root), demo (as root), install, deb, clean"

check:
	./scripts/check

demo:
	./scripts/demo

install: install-python install-data

install-python:
	$(PYTHON) -m pip install --no-deps --ignore-installed $(PIP_FLAGS) --root "$(or $(DESTDIR),/)" --prefix "$(PREFIX)" .

install-data:
	install -d "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(DISPATCHERDIR)/pre-up.d"
	sed 's|@bindir@|$(BINDIR)|g' systemd/nm-cloud-setup.service.in > "$(DESTDIR)$(UNITDIR)/nm-cloud-setup.service"
	install -m 644 systemd/nm-cloud-setup.timer "$(DESTDIR)$(UNITDIR)/"
	sed 's|@bindir@|$(BINDIR)|g' systemd/nm-cloud-metadata.service.in > "$(DESTDIR)$(UNITDIR)/nm-cloud-metadata.service"
	install -m 755 dispatcher.d/90-nm-cloud-setup.sh "$(DESTDIR)$(DISPATCHERDIR)/"
	install -d "$(DESTDIR)$(UDEVRULESDIR)" "$(DESTDIR)$(LIBEXECDIR)"
	sed 's|@libexecdir@|$(LIBEXECDIR)|g' udev/90-nm-cloud-setup.rules.in > "$(DESTDIR)$(UDEVRULESDIR)/90-nm-cloud-setup.rules"
	install -m 755 udev/nm-cloud-setup-hotplug.sh "$(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup-hotplug"
	ln -sf ../90-nm-cloud-setup.sh "$(DESTDIR)$(DISPATCHERDIR)/pre-up.d/90-nm-cloud-setup.sh"
	install -d "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man8"
	install -m 644 man/nm-cloud-setup.8 man/nm-cloud-metadata-service.8 "$(DESTDIR)$(MANDIR)/man8/"
	install -m 644 man/nm-cloud-setup-emulator.1 "$(DESTDIR)$(MANDIR)/man1/"
	install -d "$(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d"
	install -m 644 iproute2/nm-cloud-setup.conf "$(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d/"

deb:
	./scripts/package build

clean:
	rm -rf build dist *.egg-info .pytest_cache
