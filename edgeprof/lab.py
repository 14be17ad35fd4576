"""labgrid places: acquire a place on a coordinator, reach it through its NetworkService, release it afterwards.

labgrid (and grpc) are imported only here, and only when a profile names a place or tags.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Awaitable, Callable, Iterator

from edgeprof.devices import DeviceProfile, LabConfig
from edgeprof.errors import ConfigError, DeviceError

POLL_S = 0.5  # how often a held place is looked at again while waiting
CALL_TIMEOUT_S = 30.0  # the longest one request to the coordinator may take


class PlaceBusy(DeviceError):
    """Every place that fits was held by someone else for the whole wait (exit 3)."""


class LabSession:
    """One client session on a coordinator, its event loop on a thread of its own; the device threads of a deploy
    share it (the coordinator tells clients apart by their connection, and grpc shares one connection per process).
    """

    def __init__(self, address: str) -> None:
        import grpc
        from labgrid.remote.client import ClientSession, Error
        from labgrid.remote.generated import labgrid_coordinator_pb2
        from labgrid.util.proxy import proxymanager

        self.address = address
        self._grpc, self._pb2 = grpc, labgrid_coordinator_pb2
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"labgrid {address}", daemon=True)
        self._thread.start()

        async def start() -> Any:
            client = ClientSession(proxymanager.get_grpc_address(address, default_port=20408), self.loop)
            await client.start()
            return client

        try:
            self.session = self._run(start)
        except (Error, grpc.RpcError, OSError) as exc:
            self._stop_loop()
            raise DeviceError(f"labgrid coordinator {address}: cannot connect ({exc})") from exc
        self.me = f"{self.session.gethostname()}/{self.session.getuser()}"

    def _run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Await `make()` on the session's loop (grpc calls must start there); wait (bounded) for the result."""
        async def call() -> Any:
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result(timeout=CALL_TIMEOUT_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise DeviceError(f"labgrid coordinator {self.address}: no answer in {CALL_TIMEOUT_S:g} s") from exc

    def refresh(self) -> dict[str, Any]:
        """Every place as the coordinator has it now (copies taken on the session's loop), by name."""
        async def snapshot() -> dict[str, Any]:
            await self.session.sync_with_coordinator()
            return {name: copy.copy(place) for name, place in sorted(self.session.places.items())}

        return self._run(snapshot)

    def places(self, tags: dict[str, str]) -> list[Any]:
        """The places whose tags include `tags`, by name."""
        return [place for place in self.refresh().values() if all(place.tags.get(k) == v for k, v in tags.items())]

    def acquire(self, config: LabConfig, wait_s: float, check: Callable[[], None]) -> str:
        """Acquire the named place, or the first idle place with the tags; poll up to `wait_s` while all are held.

        `check` is called between polls (it raises to stop waiting, e.g. on Ctrl-C)."""
        deadline = time.monotonic() + wait_s
        while True:
            candidates = self._candidates(config)
            for place in candidates:
                if not place.acquired and self._try_acquire(place.name):
                    return place.name
            if time.monotonic() >= deadline:
                held = ", ".join(f"{p.name} by {p.acquired}" for p in candidates if p.acquired)
                raise PlaceBusy(f"labgrid place {config.describe()} is held ({held}); "
                                f"waited {wait_s:g} s (--lab-wait)")
            check()
            time.sleep(POLL_S)

    def _candidates(self, config: LabConfig) -> list[Any]:
        if config.place is not None:
            places = self.refresh()
            place = places.get(config.place)
            if place is None:
                raise DeviceError(f"labgrid coordinator {self.address}: no place '{config.place}' "
                                  f"(places: {', '.join(places) or 'none'})")
            return [place]
        found = self.places(config.tags)
        if not found:
            raise DeviceError(f"labgrid coordinator {self.address}: no place with tags {config.describe()}")
        return found

    def _try_acquire(self, name: str) -> bool:
        """One AcquirePlace; False when another client took it first."""
        try:
            self._run(lambda: self.session.stub.AcquirePlace(self._pb2.AcquirePlaceRequest(placename=name)))
        except self._grpc.aio.AioRpcError as exc:
            if exc.code() == self._grpc.StatusCode.FAILED_PRECONDITION:
                return False
            raise DeviceError(f"labgrid place {name}: cannot acquire ({exc.details()})") from exc
        return True

    def network_service(self, name: str) -> dict[str, Any]:
        """The params (address, username, port) of the acquired place's NetworkService."""
        async def params() -> tuple[Any, dict[str, Any] | None]:
            await self.session.sync_with_coordinator()
            place = self.session.places[name]
            for exporter, group, cls, resource in place.acquired_resources:
                if cls == "NetworkService":
                    return place, dict(self.session.resources[exporter][group][resource].params)
            return place, None

        place, found = self._run(params)
        if found is not None:
            return found
        raise DeviceError(f"labgrid place {name}: no NetworkService among its resources "
                          f"({', '.join('/'.join(path) for path in place.acquired_resources) or 'none'})")

    def release(self, name: str) -> None:
        """Release a place this session acquired (only if it still holds it)."""
        place = self.refresh().get(name)
        if place is not None and place.acquired == self.me:
            self._run(lambda: self.session.stub.ReleasePlace(self._pb2.ReleasePlaceRequest(placename=name)))

    def close(self) -> None:
        try:
            self._run(self.session.stop)
            self._run(self.session.close)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


_OPEN: dict[str, tuple[LabSession, int]] = {}  # coordinator -> (its session, how many users hold it)
_OPEN_LOCK = threading.Lock()


@contextmanager
def session(address: str) -> Iterator[LabSession]:
    """This process's session on the coordinator, opened by the first user, closed when the last one is done."""
    with _OPEN_LOCK:
        lab, users = _OPEN.get(address) or (LabSession(address), 0)
        _OPEN[address] = (lab, users + 1)
    try:
        yield lab
    finally:
        with _OPEN_LOCK:
            lab, users = _OPEN.pop(address)
            if users > 1:
                _OPEN[address] = (lab, users - 1)
            else:
                lab.close()


@contextmanager
def held_place(profile: DeviceProfile, wait_s: float,
               check: Callable[[], None]) -> Iterator[tuple[DeviceProfile, dict[str, str]]]:
    """Acquire the profile's place; yield the profile reaching it over SSH and the Result's `lab` section.

    The place is released when the block ends, however it ends (errors, Ctrl-C included)."""
    assert profile.lab is not None and profile.connection is not None
    address = profile.lab.address()
    with session(address) as lab:
        name = lab.acquire(profile.lab, wait_s, check)
        try:
            service = lab.network_service(name)
            connection = replace(profile.connection, host=service["address"],
                                 user=service.get("username") or profile.connection.user,
                                 port=int(service.get("port") or 22))
            yield replace(profile, connection=connection), {"place": name, "coordinator": address}
        finally:
            lab.release(name)


def place_profiles(template: DeviceProfile, tags: dict[str, str]) -> list[DeviceProfile]:
    """One profile per place with these tags on the template's coordinator, each named after its place."""
    base = template.lab or LabConfig()
    if template.connection is None:
        raise ConfigError(f"--devices-from labgrid: the template device '{template.name}' must be kind 'ssh'")
    with session(base.address()) as lab:
        names = [place.name for place in lab.places(tags)]
    if not names:
        raise ConfigError(f"labgrid coordinator {base.address()}: no place with tags "
                          f"{', '.join(f'{k}={v}' for k, v in tags.items()) or '(any)'}")
    return [replace(template, name=name, lab=LabConfig(place=name, coordinator=base.address())) for name in names]
