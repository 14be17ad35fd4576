"""labgrid places: acquire a place on a coordinator, reach it through its NetworkService, release it afterwards.

labgrid, grpc and asyncio are imported only here, in functions, and only when a profile names a place or tags.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Awaitable, Callable, Iterator

from edgeprof.devices import LAB_WAIT_S, DeviceProfile, LabConfig
from edgeprof.errors import ConfigError, DeviceError, one_line

POLL_S = 0.5  # how often a held place is looked at again while waiting
CALL_TIMEOUT_S = 30.0  # the longest one request to the coordinator may take
# How the coordinator words its AcquirePlace refusals (labgrid/remote/coordinator.py): a place another client holds
# (the only refusal that is waited on), a client whose session it does not know, a place it does not have.
ALREADY_ACQUIRED = "is already acquired"
NO_SESSION = "does not have a valid session"
NO_PLACE = "does not exist"


class PlaceBusy(DeviceError):
    """Every place that fits was held by someone else for the whole wait (exit 3)."""


class UnknownPlace(DeviceError):
    """The coordinator has no place of that name, or none with those tags (exit 3)."""


class CoordinatorError(DeviceError):
    """The coordinator cannot be reached, does not answer, or no longer knows this client's session (exit 3)."""


class _LabgridLog(logging.Handler):
    """Keeps labgrid's own log lines (it logs through the root logger, e.g. 'coordinator is unavailable: ...') for
    the one-line errors, instead of logging's last-resort handler printing them on stderr."""

    def __init__(self, package_dir: str) -> None:
        super().__init__(logging.WARNING)
        self.package_dir = package_dir
        self.last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.pathname.startswith(self.package_dir)

    def emit(self, record: logging.LogRecord) -> None:
        self.last = " ".join(record.getMessage().split())


class LabSession:
    """One client session on a coordinator, its event loop on a thread of its own; the device threads of a deploy
    share it (the coordinator tells clients apart by their connection, and grpc shares one connection per process).
    """

    def __init__(self, address: str) -> None:
        import asyncio

        import grpc
        import labgrid
        from labgrid.remote.client import ClientSession, Error
        from labgrid.remote.generated import labgrid_coordinator_pb2
        from labgrid.util.proxy import proxymanager

        self.address = address
        self._asyncio, self._grpc, self._pb2 = asyncio, grpc, labgrid_coordinator_pb2
        self.log = _LabgridLog(os.path.dirname(labgrid.__file__))
        logging.getLogger().addHandler(self.log)
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
            raise CoordinatorError(f"labgrid coordinator {address}: cannot connect ({self.log.last or exc})") from exc
        self.me = f"{self.session.gethostname()}/{self.session.getuser()}"

    def _run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Await `make()` on the session's loop (grpc calls must start there); wait (bounded) for the result."""
        async def call() -> Any:
            return await make()

        future = self._asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result(timeout=CALL_TIMEOUT_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise CoordinatorError(f"labgrid coordinator {self.address}: no answer in {CALL_TIMEOUT_S:g} s") from exc

    def refresh(self) -> dict[str, Any]:
        """Every place as the coordinator has it now (copies taken on the session's loop), by name.

        CoordinatorError once the session's update stream has ended (the coordinator went away or restarted):
        what is left of it is stale, and a sync would never be answered."""
        async def snapshot() -> dict[str, Any] | None:
            if self.session.stopping.is_set() or not await self.session.sync_with_coordinator():
                return None
            return {name: copy.copy(place) for name, place in sorted(self.session.places.items())}

        places = self._run(snapshot)
        if places is None:
            raise self._session_ended(self.log.last or "its update stream closed")
        return places

    def _session_ended(self, detail: str) -> CoordinatorError:
        return CoordinatorError(f"labgrid coordinator {self.address}: this client's session has ended ({detail}); "
                                "run again once the coordinator is back")

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
                held = ", ".join(f"{p.name} by {p.acquired or 'someone else'}" for p in candidates)
                raise PlaceBusy(f"labgrid place {config.describe()} is held ({held}); "
                                f"waited {wait_s:g} s (--lab-wait)")
            check()
            time.sleep(POLL_S)

    def _candidates(self, config: LabConfig) -> list[Any]:
        if config.place is not None:
            places = self.refresh()
            place = places.get(config.place)
            if place is None:
                raise UnknownPlace(f"labgrid coordinator {self.address}: no place '{config.place}' "
                                   f"(places: {', '.join(places) or 'none'})")
            return [place]
        found = self.places(config.tags)
        if not found:
            raise UnknownPlace(f"labgrid coordinator {self.address}: no place with tags {config.describe()}")
        return found

    def _try_acquire(self, name: str) -> bool:
        """One AcquirePlace; False when another client took it first, else any refusal as its own error."""
        try:
            self._run(lambda: self.session.stub.AcquirePlace(self._pb2.AcquirePlaceRequest(placename=name)))
        except self._grpc.aio.AioRpcError as exc:
            details, code = " ".join((exc.details() or exc.code().name).split()), exc.code()
            if ALREADY_ACQUIRED in details:
                return False
            if NO_SESSION in details:
                raise self._session_ended(details) from exc
            if code == self._grpc.StatusCode.INVALID_ARGUMENT and NO_PLACE in details:
                raise UnknownPlace(f"labgrid coordinator {self.address}: no place '{name}' ({details})") from exc
            if code in (self._grpc.StatusCode.UNAVAILABLE, self._grpc.StatusCode.DEADLINE_EXCEEDED):
                raise CoordinatorError(f"labgrid coordinator {self.address}: unavailable ({details})") from exc
            held = "; ".join(f"{path} is held through place '{other}'" for path, other in self._held_elsewhere(name))
            raise DeviceError(f"labgrid place {name}: cannot acquire ({details})" + (f": {held}" if held else "")) \
                from exc
        return True

    def _held_elsewhere(self, name: str) -> list[tuple[str, str]]:
        """The place's matching resources that another place has acquired: (exporter/group/class/name, place)."""
        async def scan() -> list[tuple[str, str]]:
            place = self.session.places.get(name)
            return [("/".join((exporter, group_name, resource.cls, resource_name)), resource.acquired)
                    for exporter, groups in sorted(self.session.resources.items())
                    for group_name, group in sorted(groups.items())
                    for resource_name, resource in sorted(group.items())
                    if place is not None and resource.acquired and resource.acquired != name
                    and place.hasmatch((exporter, group_name, resource.cls, resource_name))]

        return self._run(scan)

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
        logging.getLogger().removeHandler(self.log)


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
def reached(profile: DeviceProfile, wait_s: float = LAB_WAIT_S,
            check: Callable[[], None] = lambda: None) -> Iterator[tuple[DeviceProfile, dict[str, str] | None]]:
    """The profile as a command reaches its device, and the Result's `lab` section: the profile itself and None,
    or, for a `[lab]` profile, its labgrid place acquired first (waiting up to `wait_s`; `check` is called between
    polls and raises to stop, e.g. on Ctrl-C) and reached over SSH through the place's NetworkService.

    Every command that uses a device goes through here; the place is released when the block ends, however it
    ends (errors, Ctrl-C included)."""
    if profile.lab is None:
        yield profile, None
        return
    assert profile.connection is not None
    address = profile.lab.address()
    with session(address) as lab:
        name = lab.acquire(profile.lab, wait_s, check)
        section: dict[str, Any] = {"place": name, "coordinator": address}
        try:
            service = lab.network_service(name)
            connection = replace(profile.connection, host=service["address"],
                                 user=service.get("username") or profile.connection.user,
                                 port=int(service.get("port") or 22))
            yield replace(profile, connection=connection), section
        finally:
            try:
                lab.release(name)
            except DeviceError as exc:  # what was measured is kept: the Result and stderr say the place is held
                section["released"] = False
                sys.stderr.write(f"edgeprof: warning: labgrid place {name} on {address} was not released "
                                 f"({one_line(str(exc))}); release it with: labgrid-client -x {address} -p {name} "
                                 f"release\n")


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
