"""Which provider a run uses: every enabled one probed at once, one chosen deterministically.

Upstream takes whichever enabled provider answers first, so where two answer
(an OpenStack server also serves EC2's API) the choice changes from run to run.
Here the winner is the first detected provider in this order:

1. the provider the machine's DMI identity names (``dmi.py``), if it is enabled;
2. then ``registry.CHOICE_ORDER``: OpenStack before EC2 (an OpenStack cloud answers EC2's API
   too, never the reverse), then upstream's order, then DigitalOcean, Hetzner.

The DMI-named provider is probed first, alone, for up to ``HEAD_START``
seconds: when it answers within them, no other answer could change the choice,
so the others are not probed and the run costs what a run with that provider
alone costs.  When it fails, or has not answered by then, every other enabled
provider is probed too: DMI never stops a provider that could be chosen from
being probed (EC2-compatible servers run on plain QEMU, whose DMI names no
cloud; a wrong DMI name costs at most ``HEAD_START``).

When the run waits: for the DMI-named provider, until its detection ends.  For
any other provider earlier in the order than the best one detected so far: at
most ``GRACE`` seconds from the moment that best one is known (and the
DMI-named one has failed, if there is one).  A provider still silent then (an
unreachable 100.100.100.200 that only times out) is passed over.  With no
provider detected, the run waits for every probe to end, each bounded by its
own detection budget.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from nm_cloud_setup.errors import Cancelled, CloudSetupError
from nm_cloud_setup.providers import registry

LOG = logging.getLogger(__name__)

GRACE = 1.0
HEAD_START = 0.5


def order_for(enabled: Sequence[str], preferred: Optional[str]) -> List[str]:
    """The enabled provider keys in choice order, the DMI-named one (if enabled) first."""
    keys = [key for key in registry.CHOICE_ORDER if key in enabled]
    if preferred in keys:
        keys.remove(preferred)
        keys.insert(0, preferred)
    return keys


def probe(provider) -> bool:
    """Detect one provider; True when it answered as its cloud (upstream's log lines)."""
    try:
        provider.detect()
    except CloudSetupError as err:
        if isinstance(err, Cancelled):
            raise
        LOG.info("provider %s not detected: %s", provider.name, err)
        return False
    LOG.info("provider %s detected", provider.name)
    return True


def choose(make: Callable[[str], object], order: Sequence[str], preferred: Optional[str],
           grace: float = GRACE, detect: Callable[[object], bool] = probe,
           clock: Callable[[], float] = time.monotonic,
           head_start: float = HEAD_START) -> Optional[Tuple[str, object]]:
    """Probe the providers of ``order``; (key, provider) of the one chosen, or None.

    ``preferred`` (the DMI-named provider) gets ``head_start`` seconds alone; then,
    unless it was detected, all the others are probed at once.  Each provider is
    made (its module imported) in its own probe's thread.
    """
    if len(order) == 1:
        provider = make(order[0])
        return (order[0], provider) if detect(provider) else None
    results: "queue.Queue" = queue.Queue()
    made: Dict[str, object] = {}

    def start(key: str) -> None:
        threading.Thread(target=_probe_into, args=(results, key, make, made, detect),
                         daemon=True).start()

    verdicts: Dict[str, object] = {}
    if preferred in order:
        start(preferred)
        verdict = _first_verdict(results, head_start)
        if verdict is True:
            LOG.debug("provider choice: %s, named by DMI, was detected: no other provider "
                      "could be chosen over it, so none is probed", preferred)
            return preferred, made[preferred]
        if verdict is None:
            LOG.debug("provider choice: %s, named by DMI, has not answered within %g s; "
                      "probing the others too", preferred, head_start)
        else:
            verdicts[preferred] = verdict
    for key in order:
        if key != preferred:
            start(key)
    chosen = _wait(results, order, preferred, grace, clock, verdicts)
    return (chosen, made[chosen]) if chosen is not None else None


def _first_verdict(results: "queue.Queue", timeout: float) -> Optional[bool]:
    """The one probe's verdict within ``timeout``, or None; a probe's exception is raised."""
    try:
        _, verdict = results.get(timeout=timeout)
    except queue.Empty:
        return None
    if isinstance(verdict, BaseException):
        raise verdict
    return bool(verdict)


def _wait(results: "queue.Queue", order: Sequence[str], preferred: Optional[str],
          grace: float, clock: Callable[[], float],
          verdicts: Dict[str, object]) -> Optional[str]:
    deadline: Optional[float] = None
    while True:
        best = next((key for key in order if verdicts.get(key) is True), None)
        pending = [key for key in order if key not in verdicts]
        if best is None and not pending:
            return None
        timeout = None
        if best is not None:
            waiting = [key for key in order[:order.index(best)] if key in pending]
            if not waiting:
                return best
            if preferred not in waiting:
                deadline = clock() + grace if deadline is None else deadline
                timeout = deadline - clock()
                if timeout <= 0:
                    LOG.info("provider choice: %s did not answer within %g s of %s; "
                             "choosing %s", ", ".join(waiting), grace, best, best)
                    return best
        try:
            key, verdict = results.get(timeout=timeout)
        except queue.Empty:
            continue
        if isinstance(verdict, BaseException):
            raise verdict
        verdicts[key] = verdict


def _probe_into(results: "queue.Queue", key: str, make, made: Dict[str, object],
                detect) -> None:
    try:
        made[key] = provider = make(key)
        results.put((key, detect(provider)))
    except BaseException as err:  # a cancellation, or a bug: the chooser re-raises it
        results.put((key, err))
