"""Command line: the only reader of ``os.environ``; logging, signals and exit codes.

With no arguments it does what upstream's binary does: one run, configured by
``NM_CLOUD_SETUP_*`` environment variables.  Exit status: 0 when nothing was
to be done or all went well, 1 when a detected provider's data could not be
fetched or a device could not be configured (one line on stderr says why),
2 for usage errors and settings refused (``Settings.errors``: nothing is done).
``status --check`` has its own: 0 in sync, 1 drift, 2 cannot tell.  With
``NM_CLOUD_SETUP_METRICS_DIR`` each run leaves a node_exporter textfile there.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

from nm_cloud_setup import __version__
from nm_cloud_setup.config import Settings
from nm_cloud_setup.errors import CloudSetupError

TRACE = 5
# Worst cases (docs/operating.md, "Failure behaviour"): the metadata phase of a provider
# (detection and fetch) and the apply phase each have a budget.
METADATA_BUDGET = 60.0
APPLY_BUDGET = 120.0
_LEVELS = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
           "WARN": logging.WARNING, "ERR": logging.ERROR, "OFF": logging.CRITICAL + 10}
_LEVEL_NAMES = {TRACE: "trace", logging.DEBUG: "debug", logging.INFO: "info",
                logging.WARNING: "warn", logging.ERROR: "error", logging.CRITICAL: "error"}


class _UpstreamFormatter(logging.Formatter):
    """``[SECONDS.FRACTION] <level> message``, seconds since boot, byte for byte as
    upstream prints it: the level padded to 7 characters (``<info> `` and ``<warn> ``
    are followed by two spaces), and the fraction in 1/10000 s printed with 5 digits."""

    def format(self, record: logging.LogRecord) -> str:
        now = _boottime()
        level = f"<{_LEVEL_NAMES.get(record.levelno, record.levelname.lower())}>"
        return f"[{int(now)}.{int(now * 10000) % 10000:05d}] {level:<7} {record.getMessage()}"


def _boottime() -> float:
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


def setup_logging(level: str, stream=None) -> None:
    """Upstream's format on stdout (the journal, under systemd), or on ``stream``."""
    logging.addLevelName(TRACE, "TRACE")
    logger = logging.getLogger("nm_cloud_setup")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_UpstreamFormatter())
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False


def _make_provider(settings: Settings, key: str):
    from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
    from nm_cloud_setup.providers.registry import provider_class

    cls = provider_class(key)
    client = HttpClient(settings.hosts.get(key, cls.default_host), headers=cls.headers,
                        policy=RetryPolicy(attempts=4, deadline=5.0), rate=cls.rate,
                        budget=METADATA_BUDGET)
    return cls(client, settings.options.get(key))


def _make_backend(settings: Settings):
    """NetworkManager when it is on the bus, else the kernel over netlink.

    NM_CLOUD_SETUP_BACKEND=nm|netlink forces one; a forced one that is not
    available is an error.
    """
    log = logging.getLogger("nm_cloud_setup")
    if settings.backend in ("auto", "nm"):
        from nm_cloud_setup.backends.nm.backend import NetworkManager
        from nm_cloud_setup.errors import NotRunningError

        nm = NetworkManager(settings.bus_address, settings.session_bus,
                            state_dir=Path(settings.state_dir), kernel=_kernel_for_nm)
        try:
            nm.connect()
            return nm
        except CloudSetupError as err:
            nm.close()
            if settings.backend == "nm" or not isinstance(err, NotRunningError):
                raise
        log.info("NetworkManager is not running")
        log.info("using the netlink backend: configuring the kernel directly")
    from nm_cloud_setup.backends.netlink.backend import Netlink

    return Netlink(Path(settings.state_dir))


def _kernel_for_nm(nm_pid: Optional[int]):
    """For the NetworkManager backend, only when needed: when NetworkManager forgot what
    it was given, and around a Reapply that can drop another program's entries."""
    from nm_cloud_setup.backends.netlink.for_nm import KernelForNm

    return KernelForNm(nm_pid)


def _on_sigterm(cancel) -> None:
    def handler(signum, frame) -> None:
        cancel.request()
    signal.signal(signal.SIGTERM, handler)


def _commands():
    """The click command line, built only when there are arguments to parse."""
    import click

    @click.group(invoke_without_command=True,
                 context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--dry-run", is_flag=True,
                  help="Fetch and plan, change nothing; print per device what would change "
                       "(as nmcli or ip commands).")
    @click.option("--json", "as_json", is_flag=True, help="With --dry-run: print JSON.")
    @click.version_option(__version__, prog_name="nm-cloud-setup")
    @click.pass_context
    def commands(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
        """Configure secondary IPv4 addresses and policy routing from the cloud's metadata.

        With no command: one run, configured by NM_CLOUD_SETUP_* environment
        variables (NM_CLOUD_SETUP_EC2=yes, ...), as upstream nm-cloud-setup.
        Exit status: 0 nothing to do or all applied, 1 a failure (one line on
        stderr says which), 2 usage error.
        """
        if ctx.invoked_subcommand is None:
            ctx.exit(run_once(os.environ, dry_run=dry_run, as_json=as_json))
        elif dry_run or as_json:
            raise click.UsageError("--dry-run and --json go before no command; "
                                   "use 'status --json'")

    @commands.command()
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--check", is_flag=True,
                  help="Exit 0 when every NIC is in sync with the metadata, 1 when one "
                       "differs, 2 when it cannot be told.")
    def status(as_json: bool, check: bool) -> None:
        """Show the provider, each NIC's metadata and applied addresses, and the last run.

        Fetches the metadata and reads the current state; changes nothing.
        """
        sys.exit(run_once(os.environ, dry_run=True, as_json=as_json, show_status=True,
                          check=check))

    return commands


def main() -> None:
    """The console entry point.  The usual invocation (no arguments: the timer, the
    dispatcher) skips the command-line parser and its import entirely."""
    if len(sys.argv) <= 1:
        status = run_once(os.environ)
        # The run is over: a SIGTERM now must not turn its status into death by signal
        # (Python gives the signal its default action again while it shuts down).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(status)
    _commands()()


def run_once(env, dry_run: bool = False, as_json: bool = False,
             show_status: bool = False, check: bool = False) -> int:
    """One run; its exit status.  ``check`` (``status --check``): the exit status says
    whether the NICs are in sync (``pipeline/metrics.py``, ``check``)."""
    from nm_cloud_setup.pipeline import metrics

    started, providers = time.time(), []
    outcome = None
    try:
        status, outcome = _run(env, dry_run, as_json, show_status, check, providers)
    finally:
        settings = Settings.from_env(env)
        if settings.metrics_dir and not dry_run:
            requests = sum(getattr(p.client, "requests_sent", 0) for p in providers)
            figures = metrics.RunFigures(started, time.time() - started, requests, __version__)
            metrics.write(Path(settings.metrics_dir), metrics.render(outcome, figures))
    if check and status != 0 and outcome is None:
        return metrics.UNKNOWN
    return status


def _run(env, dry_run: bool, as_json: bool, show_status: bool, check: bool,
         providers: list):
    """(exit status, outcome or None when the run did not start)."""
    from nm_cloud_setup.pipeline import metrics, state
    from nm_cloud_setup.pipeline.cancel import Cancellation
    from nm_cloud_setup.pipeline.run import Pipeline, run

    settings = Settings.from_env(env)
    # A report owns stdout (JSON must parse): its log lines go to stderr.
    setup_logging(settings.log_level, sys.stderr if dry_run else sys.stdout)
    log = logging.getLogger("nm_cloud_setup")
    for warning in settings.warnings:
        log.warning("%s", warning)
    if settings.errors:  # a setting that would take what another program owns
        for error in settings.errors:
            log.error("%s", error)
        _fail(settings.errors[0] + (f" (and {len(settings.errors) - 1} more, see the log)"
                                    if len(settings.errors) > 1 else "")
              + "; nothing was changed")
        return 2, None
    cancel = Cancellation()
    _on_sigterm(cancel)
    state_dir = Path(settings.state_dir)

    def make_provider(key: str):
        providers.append(_make_provider(settings, key))
        return providers[-1]

    pipe = Pipeline(settings, make_provider,
                    lambda: _make_backend(settings), cancel, dry_run=dry_run,
                    apply_budget=APPLY_BUDGET,
                    on_metadata=(lambda i: None) if dry_run
                    else (lambda i: state.save_metadata(state_dir, i)),
                    with_identity=show_status)
    started = time.time()
    try:
        if dry_run:
            outcome = run(pipe)
        else:
            with state.run_lock(state_dir):
                outcome = run(pipe)
                state.save_last_run(state_dir, _last_run_record(outcome, started))
    except CloudSetupError as err:  # SIGTERM before reconfiguration, or the lock
        _fail(str(err))
        return 1, None
    verdict = metrics.check(outcome) if check else None
    if dry_run:
        _print_report(outcome, as_json, show_status, state.load_last_run(state_dir), verdict)
    if outcome.errors:
        first = outcome.errors[0]
        more = f" (and {len(outcome.errors) - 1} more, see the log)" if len(outcome.errors) > 1 \
            else ""
        _fail(first + more)
    if verdict is not None:
        return verdict[0], outcome
    return (1 if outcome.errors else 0), outcome


def _last_run_record(outcome, started: float) -> dict:
    return {"time": started, "duration": round(time.time() - started, 3),
            "provider": outcome.provider, "backend": outcome.backend, "ok": outcome.ok,
            "changed": outcome.changed, "errors": outcome.errors, "pid": os.getpid()}


def _print_report(outcome, as_json: bool, show_status: bool, last_run, verdict) -> None:
    import json

    from nm_cloud_setup.pipeline import report

    if as_json:
        document = report.as_dict(outcome, dry_run=not show_status, last_run=last_run)
        if verdict is not None:
            document["check"] = {"status": verdict[0], "text": verdict[1]}
        print(json.dumps(document, indent=2))
    elif show_status:
        print(report.status_text(outcome, last_run))
    else:
        print(report.dry_run_text(outcome))
    if verdict is not None and not as_json:
        print(f"check: {verdict[1]}")


def _fail(message: str) -> None:
    sys.stdout.flush()
    print(f"nm-cloud-setup: error: {message}", file=sys.stderr, flush=True)
