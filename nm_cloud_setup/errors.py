"""The project's one error hierarchy.

Each class says when it is raised and whose fault it is.  Every message says
what went wrong and, where there is something to do, what to do about it.
"""

from __future__ import annotations


class CloudSetupError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(CloudSetupError, ValueError):
    """The user's configuration (environment, command line) is unusable."""


class HttpError(CloudSetupError):
    """A metadata request failed (environment: the metadata service or the path to it).

    ``code`` is the HTTP status, or None when no answer came (refused, timeout,
    body too large).  ``transient``: worth trying again (no answer, or cut short);
    an HTTP status is judged by the retry policy instead.
    """

    def __init__(self, url: str, reason: str, code: int | None = None,
                 retry_after: float | None = None, transient: bool | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.code = code
        self.retry_after = retry_after
        self.transient = code is None if transient is None else transient


class MetadataError(CloudSetupError, ValueError):
    """The metadata service answered, but with something unusable (provider's fault)."""


class BackendError(CloudSetupError):
    """NetworkManager or the kernel refused or failed (environment)."""


class NotRunningError(BackendError):
    """NetworkManager is not on the bus."""


class NoAppliedConnectionError(BackendError):
    """The device has no applied connection (not active): nothing to reapply."""


class ApplyError(BackendError):
    """Applying one device's configuration failed."""


class VersionMismatchError(ApplyError):
    """Another client changed the applied connection meanwhile: fetch it again and retry."""


class Cancelled(CloudSetupError):
    """The run was cancelled (SIGTERM) before reconfiguration started."""
