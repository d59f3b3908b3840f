"""NetworkManager's D-Bus API, synchronously: the only dbus-next user.

dbus-next is asyncio-only: ``Bus`` owns a private event loop and runs each call
(or a batch of them, ``run``) to completion on it.  It speaks plain values: a
reply's Variants become ``settings.Value`` (signature, value) pairs, all the way
down, and a body's ``Value`` pairs become Variants; so nothing above this module
knows dbus-next, and the settings translation is tested without a daemon.  An
error reply raises ``DBusError`` inside the loop, and ``BackendError`` (or
``NotRunningError``) out of ``run``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, List, Optional, Sequence, TypeVar

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus

from nm_cloud_setup.backends.nm.settings import Value
from nm_cloud_setup.errors import BackendError, NotRunningError

NM = "org.freedesktop.NetworkManager"
PROPERTIES = "org.freedesktop.DBus.Properties"

T = TypeVar("T")


class DBusError(Exception):
    """An error reply: its D-Bus error name and message."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class Bus:
    """A connection to the system bus (or a given address, or the session bus)."""

    def __init__(self, address: Optional[str] = None, session_bus: bool = False,
                 timeout: float = 10.0) -> None:
        self._address = address
        self._bus_type = BusType.SESSION if session_bus else BusType.SYSTEM
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._bus: Optional[MessageBus] = None
        self.calls = 0

    def connect(self) -> None:
        """Connect, and make sure NetworkManager itself is on the bus."""
        async def connect() -> MessageBus:
            # dbus-next binds a bus to the loop running when it is made.
            return await MessageBus(bus_address=self._address, bus_type=self._bus_type).connect()

        try:
            self._bus = self.run(connect())
        except (OSError, ValueError) as err:
            raise NotRunningError(f"cannot connect to the D-Bus system bus ({err})") from None
        (has_owner,) = self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                                 "s", [NM], destination="org.freedesktop.DBus")
        if not has_owner:
            raise NotRunningError("NetworkManager is not running")

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
        self._loop.close()

    def run(self, coro: Awaitable[T], timeout: Optional[float] = None) -> T:
        """Run ``coro`` (calls made with ``acall``/``aprop``) to completion."""
        timeout = timeout or self.timeout
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except asyncio.TimeoutError:
            raise BackendError(f"NetworkManager did not answer within {timeout:g} s") from None
        except DBusError as err:
            if err.name == "org.freedesktop.DBus.Error.ServiceUnknown":
                raise NotRunningError("NetworkManager is not running") from None
            raise BackendError(f"{err.message} ({err.name})") from None
        except EOFError:
            raise NotRunningError("the D-Bus connection was closed") from None

    async def acall(self, path: str, interface: str, member: str, signature: str = "",
                    body: Sequence[Any] = (), destination: str = NM) -> List[Any]:
        """One method call, plain values in and out; an error reply raises DBusError."""
        if self._bus is None:
            raise BackendError("not connected to NetworkManager")
        self.calls += 1
        reply = await self._bus.call(Message(destination=destination, path=path,
                                             interface=interface, member=member,
                                             signature=signature,
                                             body=[_variant(item) for item in body]))
        if reply.message_type == MessageType.ERROR:
            raise DBusError(reply.error_name or "", str(reply.body[0]) if reply.body else "")
        return [plain(item) for item in reply.body]

    async def aprop(self, path: str, interface: str, name: str) -> Any:
        """A property's value (plain)."""
        (value,) = await self.acall(path, PROPERTIES, "Get", "ss", [interface, name])
        return value.value

    def call(self, path: str, interface: str, member: str, signature: str = "",
             body: Sequence[Any] = (), timeout: Optional[float] = None,
             destination: str = NM) -> List[Any]:
        """``acall``, run to completion: an error reply raises BackendError with
        NetworkManager's message."""
        return self.run(self.acall(path, interface, member, signature, body, destination),
                        timeout)

    def prop(self, path: str, interface: str, name: str) -> Any:
        return self.run(self.aprop(path, interface, name))


def plain(item: Any) -> Any:
    """Variants as (signature, value) pairs, all the way down."""
    if isinstance(item, Variant):
        return Value(item.signature, plain(item.value))
    if isinstance(item, list):
        return [plain(i) for i in item]
    if isinstance(item, dict):
        return {k: plain(v) for k, v in item.items()}
    return item


def _variant(item: Any) -> Any:
    if isinstance(item, Value):
        return Variant(item.signature, _variant(item.value))
    if isinstance(item, list):
        return [_variant(i) for i in item]
    if isinstance(item, dict):
        return {k: _variant(v) for k, v in item.items()}
    return item
