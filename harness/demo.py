"""The built-in demo: a throwaway dual-stack VM with NetworkManager, an EC2 emulator, two runs.

Run as root: ``python -m harness.demo`` (or ``scripts/demo``).
"""

from __future__ import annotations

import sys

import click

from harness.sandbox import Sandbox, missing_tools, nics_for_scenario, run, run_measured
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer


def show(sandbox: Sandbox, title: str) -> None:
    click.secho(f"\n== {title}", bold=True)
    for nic in sandbox.nics:
        addresses = sandbox.addresses(nic.ifname) + sandbox.addresses6(nic.ifname)
        click.echo(f"  {nic.ifname} ({nic.mac}): {' '.join(addresses)}")
    for family in ("-4", "-6"):
        click.echo(f"  ip {family} rule:")
        for line in sandbox_lines(sandbox, family, "rule", "show"):
            click.echo(f"    {line}")
        click.echo(f"  ip {family} routes in tables 30200-30999:")
        lines = [line for line in sandbox_lines(sandbox, family, "route", "show", "table", "all")
                 if " table 30" in line]
        for line in lines or ["(none)"]:
            click.echo(f"    {line}")


def sandbox_lines(sandbox: Sandbox, family: str, *args: str):
    return run("ip", "-n", sandbox.host_ns, family, *args).stdout.splitlines()


@click.command()
@click.option("--nics", default=2, show_default=True, help="NICs of the demo VM.")
@click.option("--ips", default=3, show_default=True, help="IPv4 addresses per NIC.")
@click.option("--ipv6s", default=2, show_default=True,
              help="IPv6 addresses per NIC (0: IPv4 only).")
@click.option("--openstack-hotplug", is_flag=True,
              help="Instead: OpenStack, a NIC without DHCP plugged into the running VM.")
def main(nics: int, ips: int, ipv6s: int, openstack_hotplug: bool) -> None:
    """Run nm-cloud-setup on a throwaway dual-stack VM against the EC2 metadata emulator.

    Each NIC's primaries come from DHCP and DHCPv6, the rest from the metadata.
    """
    missing = missing_tools()
    if missing:
        raise click.ClickException(f"missing: {', '.join(missing)} (use scripts/demo)")
    if openstack_hotplug:
        from harness import hotplug_demo

        status = hotplug_demo.demo(click.echo,
                                   lambda text: click.secho(f"\n== {text}", bold=True))
        click.echo("\nThe namespaces are gone again; nothing on this machine was changed.")
        sys.exit(status)
    scenario = scenarios.generate(nics, ips, "required", ipv6s=ipv6s)
    server = EmulatorServer(("127.0.0.1", 0), scenario).start()
    click.echo(f"EC2 metadata emulator at {server.url}: {nics} NICs x ({ips} IPv4 + {ipv6s} "
               "IPv6 addresses)")
    try:
        with Sandbox(nics_for_scenario(nics, ipv6=ipv6s > 0), tag="demo") as sandbox:
            sandbox.reset_profiles(ipv6="auto" if ipv6s else "disabled")
            show(sandbox, "before: DHCP and DHCPv6 gave each NIC its primary addresses")
            env = sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=server.url,
                              NM_CLOUD_SETUP_LOG="INFO",
                              NM_CLOUD_SETUP_STATE_DIR=str(sandbox.workdir / "state"))
            command = [sys.executable, "-m", "nm_cloud_setup"]
            click.secho("\n== nm-cloud-setup --dry-run", bold=True)
            click.echo(run_measured(command + ["--dry-run"], env).stdout.rstrip())
            for label in ("first run", "second run (metadata unchanged)"):
                server.state.requests = 0
                result = run_measured(command, env)
                click.secho(f"\n== {label}: nm-cloud-setup exited {result.returncode}", bold=True)
                click.echo(result.stdout.rstrip() + result.stderr.rstrip())
                click.echo(f"  wall {result.wall * 1000:.0f} ms, CPU {result.cpu * 1000:.0f} ms, "
                           f"peak RSS {result.max_rss_kib / 1024:.1f} MiB, "
                           f"{server.state.requests} metadata requests")
                if label == "first run":
                    show(sandbox, "after the first run")
                if result.returncode != 0:
                    raise click.ClickException("nm-cloud-setup failed")
            click.secho("\n== nm-cloud-setup status", bold=True)
            click.echo(run_measured(command + ["status"], env).stdout.rstrip())
    finally:
        server.shutdown()
        server.server_close()
    click.echo("\nThe namespaces are gone again; nothing on this machine was changed.")


if __name__ == "__main__":
    main()
