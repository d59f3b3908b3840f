"""Which provider a run uses: every enabled one probed at once, one chosen deterministically.

Upstream takes whichever enabled provider answers first, so where two answer
(an OpenStack server also serves EC2's API) the choice changes from run to run.
Here the winner is the first detected provider in this order:

1. the provider the machine's DMI identity names (``dmi.py``), if it is enabled;
2. then ``ORDER``: OpenStack before EC2 (an OpenStack cloud answers EC2's API
   too, never the reverse), then upstream's order, then DigitalOcean, Hetzner.

When the run waits: for the DMI-named provider, until its detection ends (as if
it were the only one enabled: a run with all providers enabled is no slower
than with that one alone).  For any other provider earlier in the order than
the best one detected so far: at most ``GRACE`` seconds from the moment that
best one is known (and the DMI-named one has failed, if there is one).  A
provider still silent then (an unreachable 100.100.100.200 that only times
out) is passed over.  With no provider detected, the run waits for every
probe to end, each bounded by its own detection budget.  DMI never stops a
probe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from nm_cloud_setup.errors import Cancelled, CloudSetupError

LOG = logging.getLogger(__name__)

ORDER = ("openstack", "ec2", "azure", "gcp", "aliyun", "oci", "digitalocean", "hetzner")
GRACE = 1.0


def order_for(enabled: Sequence[str], preferred: Optional[str]) -> List[str]:
    """The enabled provider keys in choice order, the DMI-named one (if enabled) first."""
    keys = [key for key in ORDER if key in enabled]
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
           clock: Callable[[], float] = time.monotonic) -> Optional[Tuple[str, object]]:
    """Probe the providers of ``order`` at once; (key, provider) of the one chosen, or None.

    Each provider is made (its module imported) in its own probe's thread, the
    DMI-named one's first, so the others cost the chosen one no time.
    """
    if len(order) == 1:
        provider = make(order[0])
        return (order[0], provider) if detect(provider) else None
    results: "queue.Queue" = queue.Queue()
    made: Dict[str, object] = {}
    for key in order:
        threading.Thread(target=_probe_into, args=(results, key, make, made, detect),
                         daemon=True).start()
    chosen = _wait(results, order, preferred, grace, clock)
    return (chosen, made[chosen]) if chosen is not None else None


def _wait(results: "queue.Queue", order: Sequence[str], preferred: Optional[str],
          grace: float, clock: Callable[[], float]) -> Optional[str]:
    verdicts: Dict[str, object] = {}
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
