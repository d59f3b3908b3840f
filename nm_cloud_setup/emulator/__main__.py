"""``nm-cloud-setup-emulator``: serve a scenario as a cloud's metadata service, or
(``nm-cloud-setup-emulator serve``) the metadata service for many VMs."""

from __future__ import annotations

import json
import sys

import click

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer
from nm_cloud_setup.providers import registry
from nm_cloud_setup.service.cli import main as serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
@click.option("--scenario", "scenario_file", type=click.File("r"),
              help="Scenario JSON file (default: generated from --nics/--ips).")
@click.option("--provider", type=click.Choice(sorted(registry.KEYS)), default="ec2",
              show_default=True,
              help="Which cloud's API shape to serve.")
@click.option("--listen", default="127.0.0.1:8000", show_default=True,
              help="HOST:PORT to listen on (port 0 picks a free one).")
@click.option("--nics", default=2, show_default=True, help="Generated scenario: NICs.")
@click.option("--ips", default=3, show_default=True, help="Generated scenario: IPs per NIC.")
@click.option("--tokens", type=click.Choice(scenarios.TOKEN_MODES), default="optional",
              show_default=True, help="EC2 IMDSv2 token mode.")
@click.option("--upstream-only", is_flag=True,
              help="Serve only the paths upstream's nm-cloud-setup requests; 404 to the rest.")
@click.pass_context
def main(ctx: click.Context, scenario_file, provider: str, listen: str, nics: int, ips: int,
         tokens: str, upstream_only: bool) -> None:
    """Serve a metadata-service emulator until interrupted.

    Prints the base URL on the first line, e.g. for NM_CLOUD_SETUP_EC2_HOST.
    With the command ``serve``: the metadata service for many VMs (see
    ``serve --help``).
    """
    if ctx.invoked_subcommand is not None:
        return
    data = json.load(scenario_file) if scenario_file else scenarios.generate(nics, ips, tokens)
    if upstream_only:
        data["upstream_only"] = True
    host, _, port = listen.rpartition(":")
    try:
        server = EmulatorServer((host or "127.0.0.1", int(port)), data, provider)
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(server.url)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


main.add_command(serve)

if __name__ == "__main__":
    main()
