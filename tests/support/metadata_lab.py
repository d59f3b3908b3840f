"""The metadata service's e2e tests share these: a lab of one-NIC VMs registered through the
API, and the hostile client (``clients/hostile.py``) run from inside a VM or a container."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from harness.lab import Lab
from harness.sandbox import Nic

CLIENTS = Path(__file__).resolve().parent / "clients"
HOSTILE = CLIENTS / "hostile.py"
SUBNET = "10.50.0.0/24"
TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}


def address(n: int) -> str:
    return f"10.50.0.{10 + n}"


def mac(n: int) -> str:
    return f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"


def body(n: int, **extra: Any) -> Dict[str, Any]:
    """VM number ``n``: one NIC, one address, a user-data and a key (secrets to guard)."""
    return {"hostname": f"vm{n}", "user_data": f"#!/bin/sh\necho secret of vm{n}\n",
            "ssh_keys": [f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{n:08d} vm{n}"],
            "interfaces": [{"mac": mac(n), "subnet": SUBNET, "addresses": [address(n)]}],
            **extra}


@contextmanager
def lab_of(count: int, *service_args: str, nofile: Optional[int] = None) -> Iterator[Lab]:
    """A lab with VMs vm1..vmCOUNT registered (``lab.machines``) and the service started
    with ``service_args``."""
    with Lab(subnets=(SUBNET,)) as lab:
        lab.start_service(*service_args, nofile=nofile)
        lab.machines = {}
        for n in range(1, count + 1):
            lab.machines[f"vm{n}"] = lab.add_vm([Nic("eth1", mac(n), address(n), SUBNET)])
            status, stored = lab.request("PUT", f"/v1/vms/vm{n}", body(n))
            assert status == 201, stored
        yield lab
        lab.stop_service()
        assert "Traceback" not in lab.service_log()  # not even at a restart or the end


def hostile(machine: Any, *args: Any, timeout: float = 180) -> Dict[str, Any]:
    """Run the hostile client inside ``machine`` (a LabVm or a Container): its JSON."""
    result = machine.run(sys.executable, str(HOSTILE), *map(str, args), timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def token(machine: Any) -> str:
    status, value = machine.fetch("PUT", "/latest/api/token", TTL)
    assert status == 200, (status, value)
    return value.decode()
