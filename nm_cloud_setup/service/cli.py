"""``nm-cloud-metadata-service`` (also ``nm-cloud-setup-emulator serve``): the metadata
service for private clouds, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Optional, Tuple

import click

from nm_cloud_setup.service.api import ManagementApi
from nm_cloud_setup.service.metadata import TOKEN_MODES, MetadataService
from nm_cloud_setup.service.store import Store

LOG = logging.getLogger("nm_cloud_setup.service")
DEFAULT_DB = "/var/lib/nm-cloud-metadata/vms.db"
DEFAULT_API = "unix:/run/nm-cloud-metadata/api.sock"


def read_token(path: Optional[Path]) -> Optional[str]:
    if path is None:
        return None
    token = path.read_text().strip()
    if len(token) < 16 or any(c.isspace() for c in token):
        raise click.ClickException(f"{path}: the API token must be one word of 16 or more "
                                   "characters")
    return token


def handlers(store: Store, tokens: str, token: Optional[str]) -> Tuple[Callable, Callable]:
    """The metadata and the management handlers, as functions of a request."""
    metadata = MetadataService(store, tokens)
    management = ManagementApi(store, token)
    return (lambda r: metadata.handle(r.method, r.path, r.headers, r.source),
            lambda r: management.handle(r.method, r.path, r.headers, r.body))


def build(db: str, listens: Tuple[str, ...], api: str, token: Optional[str],
          tokens: str) -> Tuple[Store, list]:
    """The store and the (not yet serving) listeners; ValueError/OSError on bad input."""
    if api in listens and not api.endswith(":0"):  # port 0: each gets its own port
        raise ValueError(f"the API and the metadata must not share a listener ({api})")
    if not api.startswith("unix:") and token is None:
        raise ValueError("a TCP API needs --api-token-file (the API is never open without "
                         "a token over TCP)")
    httpd = server_module()
    store = Store(db)
    metadata, management = handlers(store, tokens, token)
    listeners = []
    try:
        for address in listens:
            listeners.append(httpd.listen(address, metadata))
        listeners.append(httpd.listen(api, management, blocking=True))
    except BaseException:
        for listener in listeners:
            listener.close()
        store.close()
        raise
    return store, listeners


def server_module():
    """``service.httpd``, imported only when serving (the emulator needs no aiohttp)."""
    try:
        from nm_cloud_setup.service import httpd
    except ImportError as err:
        raise RuntimeError(f"the metadata service needs aiohttp ({err}): pip install "
                           "'nm-cloud-setup[service]', or apt install python3-aiohttp") from None
    return httpd


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
@click.option("--listen", "listens", multiple=True,
              help="Metadata listener HOST:PORT; repeat for several "
                   "(default 169.254.169.254:80).")
@click.option("--api", default=DEFAULT_API, show_default=True,
              help="Management API: unix:PATH, or HOST:PORT (needs --api-token-file).")
@click.option("--api-token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the API's bearer token (required on every API request).")
@click.option("--tokens", type=click.Choice(TOKEN_MODES), default="optional", show_default=True,
              help="IMDSv2 tokens: optional (v1 GETs too, as cloud-init off AWS) or required.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def main(db: str, listens: Tuple[str, ...], api: str, api_token_file: Optional[Path],
         tokens: str, log_level: str) -> None:
    """Serve EC2- and OpenStack-compatible instance metadata to many VMs.

    Each VM is told by the source address of its requests.  VMs are managed with
    the JSON API (PUT/PATCH/GET/DELETE /v1/vms/NAME, GET /v1/vms, GET /v1/health).
    """
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="nm-cloud-metadata: %(message)s")
    try:
        store, listeners = build(db, listens or ("169.254.169.254:80",), api,
                               read_token(api_token_file), tokens)
    except (ValueError, OSError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    httpd = server_module()
    for listener in listeners[:-1]:
        LOG.info("metadata on %s", httpd.bound(listener))
    LOG.info("API on %s; %d VMs in %s (schema %d); tokens %s", httpd.bound(listeners[-1]),
             len(store.all()), db, store.schema_version(), tokens)
    try:
        httpd.serve(listeners, stop)
    finally:
        store.close()


if __name__ == "__main__":
    main()
