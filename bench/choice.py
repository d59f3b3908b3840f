"""Benchmark of the provider choice: how long a run takes with one provider, with all eight.

Run as root: ``sudo .venv/bin/python bench/choice.py [--repeat N] [--latency MS]``.  A real
NetworkManager in a throwaway namespace; emulators on loopback, each request delayed by
``--latency`` (the emulator's latency knob).  The cloud is OpenStack (or Hetzner); the other
providers' hosts answer 404 (a metadata server that is not theirs) except Aliyun's, which
accepts connections and never answers (100.100.100.200 unreachable).  One run
to configure, then ``--repeat`` rounds of one no-change run per setup (interleaved, so that
the machine's drift touches every setup alike); the median wall time is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.sandbox import Sandbox, nics_for_scenario, run_measured  # noqa: E402
from nm_cloud_setup.emulator import scenario as scenarios  # noqa: E402
from nm_cloud_setup.emulator.server import EmulatorServer  # noqa: E402
from nm_cloud_setup.providers.registry import KEYS as PROVIDERS  # noqa: E402


def servers(latency: float) -> Dict[str, EmulatorServer]:
    made = {name: EmulatorServer(("127.0.0.1", 0), scenarios.generate(2, 3), name).start()
            for name in ("openstack", "hetzner", "ec2")}
    made["silent"] = EmulatorServer(("127.0.0.1", 0), scenarios.generate(2, 3)).start()
    made["silent"].state.rules = [{"match": "/", "hang": True, "hang_seconds": 60}]
    for server in made.values():
        server.state.latency = latency
    return made


def environment(sandbox: Sandbox, made: Dict[str, EmulatorServer], hosts: Dict[str, str],
                dmi: str) -> dict:
    """Each enabled provider pointed at its server: its own service, a silent one, or
    another cloud's (which answers it 404)."""
    env = {"NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state"),
           "NM_CLOUD_SETUP_DMI_DIR": dmi}
    for key, server in hosts.items():
        env[f"NM_CLOUD_SETUP_{key.upper()}"] = "yes"
        env[f"NM_CLOUD_SETUP_{key.upper()}_HOST"] = made[server].url
    return sandbox.env(**env)


def once(env: dict) -> float:
    result = run_measured([sys.executable, "-m", "nm_cloud_setup"], env)
    if result.returncode != 0:
        raise SystemExit(f"run failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.wall * 1000


def everyone(cloud: str) -> Dict[str, str]:
    """All eight enabled on ``cloud``: Aliyun silent, the others answered 404 by it."""
    hosts = {key: ("silent" if key == "aliyun" else cloud if key != "openstack"
                   else "hetzner") for key in PROVIDERS}
    hosts[cloud] = cloud
    return hosts


SILENT_BEFORE_HETZNER = {"hetzner": "hetzner", "openstack": "silent", "ec2": "silent",
                         "aliyun": "silent"}
SETUPS = [
    # (label, provider -> server, DMI file and value)
    ("OpenStack alone, DMI names OpenStack", {"openstack": "openstack"},
     ("product_name", "OpenStack Nova")),
    ("all 8, DMI names OpenStack, Aliyun silent", everyone("openstack"),
     ("product_name", "OpenStack Nova")),
    ("all 8, no DMI match, Aliyun silent", everyone("openstack"), None),
    ("Hetzner alone, no DMI match", {"hetzner": "hetzner"}, None),
    ("Hetzner + silent OpenStack, EC2, Aliyun, no DMI match", SILENT_BEFORE_HETZNER, None),
    ("Hetzner + silent OpenStack, EC2, Aliyun, DMI names Hetzner", SILENT_BEFORE_HETZNER,
     ("sys_vendor", "Hetzner")),
    ("no cloud answers: EC2 404, Aliyun silent", {"ec2": "openstack", "aliyun": "silent"},
     None),
]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency", type=float, default=50.0, help="per request, ms")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark makes network namespaces")
    made = servers(args.latency / 1000)
    print(f"emulator latency {args.latency:g} ms per request; median of {args.repeat} "
          "no-change runs, the setups interleaved round by round")
    try:
        with Sandbox(nics_for_scenario(2), nm_log_level="WARN") as sandbox:
            sandbox.reset_profiles()
            envs = []
            for _, hosts, dmi_value in SETUPS:
                dmi = Path(tempfile.mkdtemp(dir=sandbox.workdir))
                if dmi_value:
                    (dmi / dmi_value[0]).write_text(dmi_value[1] + "\n")
                envs.append(environment(sandbox, made, hosts, str(dmi)))
            once(envs[0])  # configures: every cloud here serves the same NICs, so the
            walls: List[List[float]] = [[] for _ in SETUPS]  # later runs change nothing
            for _ in range(args.repeat):
                for number, env in enumerate(envs):
                    walls[number].append(once(env))
            for (label, _, _), measured in zip(SETUPS, walls):
                print(f"{label:<62}{statistics.median(measured):>8.0f} ms", flush=True)
    finally:
        for server in made.values():
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
