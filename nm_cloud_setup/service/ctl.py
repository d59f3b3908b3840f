"""``nm-cloud-metadata-ctl``: the management API from the command line, so that an operator
need not write curl lines.

  nm-cloud-metadata-ctl [--api unix:PATH|HOST:PORT] [--token-file FILE] COMMAND
    list [--json]        the VMs' names (--json: every VM, as GET /v1/vms)
    get NAME             one VM (JSON)
    put NAME FILE|-      create or replace a VM from a JSON file (- : standard input)
    patch NAME FILE|-    merge top-level fields (``null`` removes one)
    delete NAME
    health

It prints the API's JSON; an error is one line on stderr (the status, the field,
the message) and exit status 1 (2: the command line itself was wrong).  A separate
command, not a subcommand of ``nm-cloud-metadata-service``: the service's options are
flat (its unit's ExecStart stays as it is), and the client needs no aiohttp.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Optional

import click

from nm_cloud_setup.service import client
from nm_cloud_setup.service.token_file import read_token

DEFAULT_API = "unix:/run/nm-cloud-metadata/api.sock"


class _Api:
    def __init__(self, address: str, token: Optional[str]) -> None:
        self.address = address
        self.token = token

    def call(self, method: str, path: str, raw: Optional[bytes] = None) -> Any:
        try:
            status, answer = client.request(self.address, method, path, token=self.token,
                                            raw=raw)
        except (OSError, ValueError) as err:
            raise click.ClickException(f"cannot reach the API at {self.address}: {err}"
                                       ) from None
        if status >= 400:
            answer = answer if isinstance(answer, dict) else {}
            field = f" {answer['field']}:" if answer.get("field") else ""
            message = answer.get("error") or "no details"
            if answer.get("field") and message.startswith(f"{answer['field']}: "):
                message = message[len(answer["field"]) + 2:]
            raise click.ClickException(f"{status}{field} {message}")
        return answer


def _vm_path(name: str) -> str:
    return "/v1/vms/" + urllib.parse.quote(name, safe="")


def _show(value: Any) -> None:
    if value is not None:
        click.echo(json.dumps(value, indent=1, ensure_ascii=False))


def _document(source: str) -> bytes:
    """The JSON to send, from a file or standard input, checked to parse first."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        json.loads(data)
    except ValueError as err:
        raise click.ClickException(f"{source}: not JSON ({err})") from None
    return data


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api", default=DEFAULT_API, show_default=True, envvar="NM_CLOUD_METADATA_API",
              help="The service's API: unix:PATH or HOST:PORT.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="NM_CLOUD_METADATA_TOKEN_FILE",
              help="File (mode 0600) holding the API's bearer token.")
@click.pass_context
def main(ctx: click.Context, api: str, token_file: Optional[Path]) -> None:
    """Manage the VMs of nm-cloud-metadata-service."""
    try:
        token = read_token(token_file) if token_file is not None else None
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    ctx.obj = _Api(api, token)


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Every VM, whole.")
@click.pass_obj
def list_vms(api: _Api, as_json: bool) -> None:
    """The VMs' names, one a line."""
    vms = api.call("GET", "/v1/vms")["vms"]
    if as_json:
        _show(vms)
    else:
        for name in vms:
            click.echo(name)


@main.command()
@click.argument("name")
@click.pass_obj
def get(api: _Api, name: str) -> None:
    """One VM."""
    _show(api.call("GET", _vm_path(name)))


@main.command()
@click.argument("name")
@click.argument("source", metavar="FILE|-")
@click.pass_obj
def put(api: _Api, name: str, source: str) -> None:
    """Create or replace a VM from a JSON document."""
    _show(api.call("PUT", _vm_path(name), _document(source)))


@main.command()
@click.argument("name")
@click.argument("source", metavar="FILE|-")
@click.pass_obj
def patch(api: _Api, name: str, source: str) -> None:
    """Merge top-level fields into a VM (null removes one)."""
    _show(api.call("PATCH", _vm_path(name), _document(source)))


@main.command()
@click.argument("name")
@click.pass_obj
def delete(api: _Api, name: str) -> None:
    """Delete a VM (its IMDSv2 tokens die with it)."""
    api.call("DELETE", _vm_path(name))


@main.command()
@click.pass_obj
def health(api: _Api) -> None:
    """Whether the service answers, and how many VMs it serves."""
    _show(api.call("GET", "/v1/health"))


if __name__ == "__main__":
    main()
