"""`edgeprof clean`: free what edgeprof cached in a device's work dir (blobs, partial uploads, compiled engines)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from edgeprof.clean import clean_device
from edgeprof.cli.app import app, console
from edgeprof.cli.options import (
    AcceptNewOption,
    HostOption,
    IdentityOption,
    JsonOption,
    LabWaitOption,
    PortOption,
    UserOption,
)
from edgeprof.devices import LAB_WAIT_S, load_profile, with_overrides


@app.command("clean")
def clean_command(
    device: Annotated[str, typer.Option("--device", "-d", metavar="DEVICE", help="The device profile to clean.")],
    everything: Annotated[bool, typer.Option("--all", help="Also the current agent and partial uploads that "
                                             "may still be in progress.")] = False,
    host: HostOption = None,
    port: PortOption = None,
    user: UserOption = None,
    identity: IdentityOption = None,
    accept_new_host_key: AcceptNewOption = False,
    lab_wait: LabWaitOption = LAB_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Remove edgeprof's blobs, stale partial uploads and compiled caches under the device's work dir (never
    anything outside it); refuses while a run holds the device; a labgrid device's place is held meanwhile."""
    profile = with_overrides(load_profile(device), host=host, port=port, user=user, identity=identity)
    freed = clean_device(profile, everything=everything, accept_new_host_key=accept_new_host_key,
                         lab_wait_s=lab_wait)
    if as_json:
        print(json.dumps({"device": device, "files": freed.files, "bytes": freed.bytes,
                          "kept_bytes": freed.kept_bytes}))
        return
    console(stderr=True).print(f"{device}: {freed.text()}")
