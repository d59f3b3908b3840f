"""Running a provider's requests side by side, never more than a few in flight.

``fetch_all`` runs independent fetches.  ``run_steps`` runs fetches that depend on
one another: each job makes a generator that yields a batch (``{name: fetch}``) of
requests that may go at once, is sent back their results, and returns its value.
The batches of all jobs share one bound on the requests in flight, and a job's
next batch starts as soon as its last one has ended, whatever the other jobs are
waiting for: the wall time follows the longest chain of dependent requests, not
their count, as long as the bound is not the limit.  A fetch that raises a
``CloudSetupError`` has it as its result.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, Generator, Hashable, Mapping, Tuple, TypeVar, Union

from nm_cloud_setup.errors import CloudSetupError

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
Batch = Mapping[str, Callable[[], Any]]
Steps = Generator[Batch, Dict[str, Any], Any]


def _call(job: Callable[[], R]) -> Union[R, CloudSetupError]:
    try:
        return job()
    except CloudSetupError as err:
        return err


def fetch_all(jobs: Mapping[K, Callable[[], R]],
              limit: int) -> Dict[K, Union[R, CloudSetupError]]:
    """Run independent fetches, at most ``limit`` at once; errors are returned."""
    if len(jobs) <= 1 or limit <= 1:
        return {key: _call(job) for key, job in jobs.items()}
    with ThreadPoolExecutor(min(limit, len(jobs))) as pool:
        futures = {key: pool.submit(_call, job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def run_steps(jobs: Mapping[K, Callable[[], Steps]], limit: int) -> Dict[K, Any]:
    """Drive each job's batches, at most ``limit`` requests in flight over all jobs."""
    if limit <= 1:
        return {key: _inline(job()) for key, job in jobs.items()}
    running = {key: job() for key, job in jobs.items()}
    results: Dict[K, Any] = {}
    owner: Dict[Future, Tuple[K, str]] = {}
    open_batches: Dict[K, Tuple[Dict[str, Any], int]] = {}
    with ThreadPoolExecutor(limit) as pool:
        def advance(key: K, steps: Steps, sent: Any) -> None:
            try:
                batch = steps.send(sent)
            except StopIteration as done:
                results[key] = done.value
                return
            if not batch:
                advance(key, steps, {})
                return
            open_batches[key] = ({}, len(batch))
            for name, fetch in batch.items():
                owner[pool.submit(_call, fetch)] = (key, name)

        for key, steps in running.items():
            advance(key, steps, None)
        while owner:
            finished, _ = wait(list(owner), return_when=FIRST_COMPLETED)
            for future in finished:
                key, name = owner.pop(future)
                got, size = open_batches[key]
                got[name] = future.result()
                if len(got) == size:
                    del open_batches[key]
                    advance(key, running[key], got)
    return results


def _inline(steps: Steps) -> Any:
    """One job's batches one request after the other (a bound of one)."""
    sent: Any = None
    try:
        while True:
            batch = steps.send(sent)
            sent = {name: _call(fetch) for name, fetch in batch.items()}
    except StopIteration as done:
        return done.value

