#!/bin/sh
# Run by udev (90-nm-cloud-setup.rules) when a network device is added or removed.
# For a NIC (not a virtual device), and only when the service is enabled: rerun
# nm-cloud-setup now, and once more 20 s later, because OpenStack's metadata
# service answers from a 15 s cache and may not name a NIC plugged a moment ago.
# Neither waits: udev must not be kept waiting.

case "$DEVPATH" in
    /devices/virtual/*|"") exit 0 ;;
esac
systemctl -q is-enabled nm-cloud-setup.service 2>/dev/null || exit 0
systemctl --no-block restart nm-cloud-setup.service
systemd-run --quiet --no-block --on-active=20 --timer-property=AccuracySec=1s \
    systemctl --no-block restart nm-cloud-setup.service >/dev/null 2>&1
exit 0
