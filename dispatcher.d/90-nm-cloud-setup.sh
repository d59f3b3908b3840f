#!/bin/sh
# NetworkManager dispatcher script: rerun nm-cloud-setup when an interface
# comes up (pre-up: blocking, so network-online waits for it) or its DHCPv4
# lease changes (not blocking).  Only when the service is enabled.
# Installed in /usr/lib/NetworkManager/dispatcher.d/ and, as a link, in
# /usr/lib/NetworkManager/dispatcher.d/pre-up.d/.  A profile nm-cloud-setup made
# itself (OpenStack, in memory: "nm-cloud-setup IFNAME") holds its whole plan: its
# activation needs no run (and the run that made it is waiting for it).

case "$2" in
    pre-up)
        case "$CONNECTION_ID" in
            "nm-cloud-setup "*) exit 0 ;;
        esac
        if systemctl -q is-enabled nm-cloud-setup.service 2>/dev/null; then
            exec systemctl restart nm-cloud-setup.service
        fi
        ;;
    dhcp4-change)
        if systemctl -q is-enabled nm-cloud-setup.service 2>/dev/null; then
            exec systemctl --no-block restart nm-cloud-setup.service
        fi
        ;;
esac
exit 0
