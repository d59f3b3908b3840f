"""``nm-cloud-metadata-service`` (also ``nm-cloud-setup-emulator serve``): the metadata
service for private clouds, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Optional, Tuple

import click

from nm_cloud_setup.service import logs, token_file
from nm_cloud_setup.service.api import BODY_LIMIT, ManagementApi
from nm_cloud_setup.service.db import StoreError
from nm_cloud_setup.service.guard import Guard, Limits
from nm_cloud_setup.service.metadata import TOKEN_MODES, MetadataService
from nm_cloud_setup.service.store import Store

LOG = logging.getLogger("nm_cloud_setup.service")
DEFAULT_DB = "/var/lib/nm-cloud-metadata/vms.db"
DEFAULT_API = "unix:/run/nm-cloud-metadata/api.sock"


def read_token(path: Optional[Path]) -> Optional[str]:
    """The API token in ``path`` (refused when others may read the file)."""
    if path is None:
        return None
    try:
        return token_file.read_token(path)
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None


def handlers(store: Store, tokens: str, token: Optional[str], guard: Optional[Guard] = None,
             hop_limit: int = 1) -> Tuple[Callable, Callable]:
    """The metadata and the management handlers, as functions of a request."""
    metadata = MetadataService(store, tokens, guard, hop_limit,
                               guard.limits.max_body if guard else 1024)
    management = ManagementApi(store, token)
    return (lambda r: metadata.handle(r.method, r.path, r.headers, r.source),
            lambda r: management.handle(r.method, r.path, r.headers, r.body, r.who))


def build(db: str, listens: Tuple[str, ...], api: str, token: Optional[str],
          tokens: str, limits: Optional[Limits] = None,
          hop_limit: int = 1) -> Tuple[Store, list]:
    """The store and the (not yet serving) listeners; ValueError/OSError/StoreError on bad
    input."""
    if api in listens and not api.endswith(":0"):  # port 0: each gets its own port
        raise ValueError(f"the API and the metadata must not share a listener ({api})")
    if not api.startswith("unix:") and token is None:
        raise ValueError("a TCP API needs --api-token-file (the API is never open without "
                         "a token over TCP)")
    limits = (limits or Limits()).check()
    httpd = server_module()
    store = Store(db)
    guard = Guard(limits, lambda source: _name(store, source))
    metadata, management = handlers(store, tokens, token, guard, hop_limit)
    refusal = ManagementApi(store, token)
    listeners = []
    try:
        for address in listens:
            listeners.append(httpd.listen(address, metadata, guard=guard, limits=limits))
        listeners.append(httpd.listen(
            api, management, blocking=True, body_limit=BODY_LIMIT, limits=limits,
            refusal=lambda r: refusal.refusal(r.method, r.path, r.headers, r.who)))
    except BaseException:
        for listener in listeners:
            listener.close()
        store.close()
        raise
    return store, listeners


def _name(store: Store, source: str) -> Optional[str]:
    entry = store.by_source(source)
    return entry.name if entry is not None else None


def server_module():
    """``service.httpd``, imported only when serving (the emulator needs no aiohttp)."""
    try:
        from nm_cloud_setup.service import httpd
    except ImportError as err:
        raise RuntimeError(f"the metadata service needs aiohttp ({err}): pip install "
                           "'nm-cloud-setup[service]', or apt install python3-aiohttp") from None
    return httpd


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=DEFAULT_DB, show_default=True,
              help="SQLite database file, or postgresql://... (shared by several hosts).")
@click.option("--listen", "listens", multiple=True,
              help="Metadata listener HOST:PORT; repeat for several "
                   "(default 169.254.169.254:80).")
@click.option("--api", default=DEFAULT_API, show_default=True,
              help="Management API: unix:PATH, or HOST:PORT (needs --api-token-file).")
@click.option("--api-token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File (mode 0600) holding the API's bearer token, required on every "
                   "API request.")
@click.option("--tokens", type=click.Choice(TOKEN_MODES), default="optional", show_default=True,
              help="IMDSv2 tokens: optional (v1 GETs too, as cloud-init off AWS) or required "
                   "(on every path, OpenStack's too).")
@click.option("--token-hop-limit", type=click.IntRange(1, 64), default=1, show_default=True,
              help="IP TTL / IPv6 hop limit of the token's answer (2: containers in a VM "
                   "may get tokens).")
@click.option("--max-connections", type=click.IntRange(1), default=Limits.connections,
              show_default=True, help="Open metadata connections, in all.")
@click.option("--vm-connections", type=click.IntRange(1), default=Limits.per_vm,
              show_default=True, help="Open metadata connections of one VM.")
@click.option("--vm-rate", type=click.FloatRange(0.1), default=Limits.rate, show_default=True,
              help="Requests per second one VM may sustain (beyond: 429).")
@click.option("--vm-burst", type=click.IntRange(1), default=Limits.burst, show_default=True,
              help="Requests one VM may make at once.")
@click.option("--header-timeout", type=click.FloatRange(0.1), default=Limits.header_timeout,
              show_default=True, help="Seconds from a request's first byte to its headers' end.")
@click.option("--idle-timeout", type=click.FloatRange(0.1), default=Limits.idle_timeout,
              show_default=True, help="Seconds a connection may wait between requests.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request answered.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def main(db: str, listens: Tuple[str, ...], api: str, api_token_file: Optional[Path],
         tokens: str, token_hop_limit: int, max_connections: int, vm_connections: int,
         vm_rate: float, vm_burst: int, header_timeout: float, idle_timeout: float,
         access_log: bool, log_level: str) -> None:
    """Serve EC2- and OpenStack-compatible instance metadata to many VMs.

    Each VM is told by the source address of its requests.  VMs are managed with
    the JSON API (PUT/PATCH/GET/DELETE /v1/vms/NAME, GET /v1/vms, GET /v1/health),
    or with nm-cloud-metadata-ctl.
    """
    logs.setup(log_level, access=access_log)
    os.umask(0o077)  # whatever it creates (the database, the socket) is its own
    limits = Limits(connections=max_connections, per_vm=vm_connections, rate=vm_rate,
                    burst=vm_burst, header_timeout=header_timeout, idle_timeout=idle_timeout)
    try:
        store, listeners = build(db, listens or ("169.254.169.254:80",), api,
                                 read_token(api_token_file), tokens, limits, token_hop_limit)
    except (ValueError, OSError, RuntimeError) as err:  # StoreError too: one line
        raise click.ClickException(str(err)) from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    httpd = server_module()
    for listener in listeners[:-1]:
        LOG.info("metadata on %s", httpd.bound(listener))
    LOG.info("API on %s; %d VMs in %s %s (schema %d)", httpd.bound(listeners[-1]),
             store.count(), store.database.kind, store.database.describe(),
             store.schema_version())
    LOG.info("%s; token answers leave with hop limit %d", MetadataService(
        store, tokens).describe(), token_hop_limit)
    LOG.info("per VM: %d connections, %g requests/s (bursts of %d); %d connections in all",
             vm_connections, vm_rate, vm_burst, max_connections)
    follower = store.follow(stop)
    try:
        httpd.serve(listeners, stop)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    finally:
        stop.set()
        if follower is not None:
            follower.join(10)
        store.close()


if __name__ == "__main__":
    main()
