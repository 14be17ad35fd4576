"""`clean`: reach a device (its labgrid place held meanwhile) and free edgeprof's cache in its work dir, keeping the
agent this host runs unless asked for everything; the device-side work is transport.cache's."""

from __future__ import annotations

from edgeprof.agent.spec import CACHE_DIR
from edgeprof.agent_bundle import build_agent
from edgeprof.devices import LAB_WAIT_S, DeviceProfile
from edgeprof.errors import DeviceError
from edgeprof.lab import reached
from edgeprof.transport import device_python, open_transport
from edgeprof.transport.cache import Freed, clean_cache


def clean_device(profile: DeviceProfile, *, everything: bool = False, accept_new_host_key: bool = False,
                 lab_wait_s: float = LAB_WAIT_S) -> Freed:
    """Remove edgeprof's blobs, stale partial uploads and compiled caches from the device's work dir, keeping the
    current agent; `everything`: the agent and young partials too. DeviceError when a run holds the device.
    A `[lab]` profile's place is held meanwhile (edgeprof.lab.reached, waiting up to `lab_wait_s`)."""
    with reached(profile, lab_wait_s) as (device, _), open_transport(
            device.name, device.kind, device.connection, accept_new_host_key=accept_new_host_key) as transport:
        agent = build_agent()
        keep = set() if everything else {transport.blob_path(agent.sha256, ".pyz"),
                                         transport.remote_path(f"{CACHE_DIR}/{agent.unpacked_name}")}
        freed = clean_cache(transport, device_python(device.connection), keep, everything=everything)
    if freed is None:
        raise DeviceError(f"device '{profile.name}': busy (a run holds its lock); nothing was removed")
    return freed
