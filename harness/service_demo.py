"""The metadata service's demo: two VMs registered with the API, read by real clients.

Run as root: ``python -m harness.service_demo`` (or
``scripts/service-demo``).  A hypervisor namespace with a bridge carrying
169.254.169.254, the service with its API on a unix socket, two VM namespaces on
the bridge; each command it runs is printed as you would type it on a real host.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from harness.lab import Lab, LabVm
from harness.sandbox import Nic

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice"
VMS = {
    "web-1": {"hostname": "web-1", "region": "eu-west-1", "ssh_keys": [KEY],
              "user_data": "#cloud-config\npackages: [nginx]\n",
              "interfaces": [{"mac": "52:54:00:00:01:01", "subnet": "10.50.0.0/24",
                              "addresses": ["10.50.0.11", "10.50.0.12"]}]},
    "db-1": {"hostname": "db-1", "region": "eu-west-1", "instance_type": "r5.large",
             "interfaces": [{"mac": "52:54:00:00:02:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.50.0.21"]}]},
}
CLOUD_INIT = ("from cloudinit.sources.helpers import ec2; "
              "md = ec2.get_instance_metadata('2021-03-23'); "
              "print(md['instance-id'], md['local-hostname'], md['placement'], "
              "list(md.get('public-keys', {})), repr(ec2.get_instance_userdata('2021-03-23')))")
BOTOCORE = ("import botocore.utils as u; "
            "print(u.InstanceMetadataRegionFetcher(timeout=2, num_attempts=1).retrieve_region())")


def shell(title: str, args, vm: LabVm = None, shown: str = None, stdin: str = None) -> str:
    print(f"\n$ {shown or ' '.join(shlex.quote(a) for a in args)}" +
          (f"        # inside {title}" if vm else ""))
    command = vm.exec_in_host(*args) if vm else list(args)
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, input=stdin)
    text = (out.stdout + out.stderr).rstrip()
    print(text)
    return text


def main() -> None:
    with Lab(subnets=("10.50.0.0/24",)) as lab:
        lab.start_service()
        sock = lab.api[len("unix:"):]
        print("A bridge br0 carries 169.254.169.254/32 and 10.50.0.1/24; the service:\n"
              "$ nm-cloud-metadata-service --db /var/lib/nm-cloud-metadata/vms.db "
              "--listen 169.254.169.254:80 --api unix:/run/nm-cloud-metadata/api.sock")
        vms = {}
        ctl = [sys.executable, "-m", "nm_cloud_setup.service.ctl", "--api", lab.api]
        for name, body in VMS.items():
            nic = body["interfaces"][0]
            vms[name] = lab.add_vm([Nic("eth0", nic["mac"], nic["addresses"][0], nic["subnet"])])
            if name == "web-1":  # with curl, as any HTTP client would
                shell(name, ["curl", "-sS", "--unix-socket", sock, "-X", "PUT",
                             f"http://localhost/v1/vms/{name}", "-d", json.dumps(body)],
                      shown=f"curl -sS --unix-socket /run/nm-cloud-metadata/api.sock -X PUT "
                            f"http://localhost/v1/vms/{name} -d '{json.dumps(body)}'")
            else:  # with the service's own client (its API is the default)
                shell(name, [*ctl, "put", name, "-"], stdin=json.dumps(body),
                      shown=f"nm-cloud-metadata-ctl put {name} - <<< '{json.dumps(body)}'")
        shell("", [*ctl, "list"], shown="nm-cloud-metadata-ctl list")
        for name, vm in vms.items():
            print(f"\n== {name}")
            shell(name, ["curl", "-s", "http://169.254.169.254/latest/meta-data/"], vm)
            shell(name, ["/usr/bin/python3", "-c", CLOUD_INIT], vm,
                  shown=f"python3 -c \"{CLOUD_INIT}\"")
            shell(name, [sys.executable, "-m", "ec2_metadata", "json", "instance_id",
                         "instance_type", "private_ipv4", "region", "availability_zone"], vm,
                  shown="python3 -m ec2_metadata json instance_id instance_type "
                        "private_ipv4 region availability_zone")
            shell(name, [sys.executable, "-c", BOTOCORE], vm, shown=f"python3 -c \"{BOTOCORE}\"")
        print("\n== isolation: db-1 asks for web-1's NIC and user-data")
        shell("db-1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n",
                       "http://169.254.169.254/latest/meta-data/network/interfaces/macs/"
                       "52:54:00:00:01:01/local-ipv4s"], vms["db-1"])
        shell("db-1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n",
                       "http://169.254.169.254/latest/user-data"], vms["db-1"])


if __name__ == "__main__":
    main()
