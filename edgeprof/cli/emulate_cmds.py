"""`edgeprof emulate build|key|export|import|up|down|status`: the emulated arm64 boards under QEMU."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgeprof.cli.app import app, console
from edgeprof.cli.options import JsonOption, seconds
from edgeprof.emulate import vm
from edgeprof.emulate.bundle import export_image, import_image
from edgeprof.emulate.image import build_image, image_for
from edgeprof.emulate.paths import emulate_dir, relocated, ssh_config_path
from edgeprof.emulate.recipe import recipe_for
from edgeprof.units import file_size

emulate_app = typer.Typer(help="Emulated arm64 boards under QEMU (qemu-pi4): build the image, boot, stop.",
                          no_args_is_help=True)
app.add_typer(emulate_app, name="emulate")


@emulate_app.command("build")
def emulate_build(
    name: Annotated[str, typer.Argument(metavar="DEVICE", help="Emulated device whose image to build.")] = "qemu-pi4",
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the cache has this image.")] = False,
) -> None:
    """Build the image from Debian packages and pinned wheels (cached by a hash of the recipe)."""
    out = console(stderr=True)
    started = time.monotonic()

    def on_step(step: str, what: str) -> None:
        out.print(f"[{time.monotonic() - started:6.0f} s] {step}: {what}")

    image, cached = build_image(recipe_for(name), on_step, force=force)
    verb = "cache hit" if cached else f"built in {time.monotonic() - started:.0f} s"
    out.print(f"{image.name}: {verb}: {image.dir}")


@emulate_app.command("key")
def emulate_key(
    name: Annotated[str, typer.Argument(metavar="DEVICE",
                                        help="Emulated device whose image key to print.")] = "qemu-pi4",
) -> None:
    """Print the image's cache key (NAME-HASH of the recipe), e.g. for an actions/cache or GitLab cache key."""
    print(image_for(recipe_for(name)).dir.name)


@emulate_app.command("export")
def emulate_export(
    out: Annotated[Path, typer.Option("--out", metavar="PATH",
                                      help="File to write: a tar with SHA-256 sums (it holds the "
                                           "image's client key: mode 600).")],
    name: Annotated[str, typer.Argument(metavar="DEVICE",
                                        help="Emulated device whose built image to export.")] = "qemu-pi4",
) -> None:
    """Write the built image as one checksummed file, for a team's file server or a CI artifact."""
    image = export_image(recipe_for(name), out)
    console(stderr=True).print(f"{image.dir.name}: exported to {out} ({file_size(out.stat().st_size)})")


@emulate_app.command("import")
def emulate_import(
    src: Annotated[Path, typer.Argument(metavar="PATH", help="A file `edgeprof emulate export` wrote.")],
) -> None:
    """Check an exported image's sums and recipe key and put it in the cache (a mismatch is refused, exit 2)."""
    image, cached = import_image(src)
    console(stderr=True).print(f"{image.dir.name}: {'already in the cache' if cached else 'imported'}: {image.dir}")


@emulate_app.command("up")
def emulate_up(
    name: Annotated[str, typer.Argument(metavar="DEVICE", help="Emulated device profile, e.g. qemu-pi4.")],
    icount: Annotated[bool, typer.Option("--icount", help="Boot DEVICE's -icount twin (deterministic virtual time).")]
    = False,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", min=0, callback=seconds,
                                           help="Seconds to wait for SSH.")] = 180.0,
) -> None:
    """Boot the VM in the background on a free loopback port; `--device NAME` then reaches it."""
    name = vm.device_name(name, icount)
    out = console(stderr=True)
    with out.status(f"booting {name} (about 40 s, longer on a busy host)"):
        started = time.monotonic()
        state, already = vm.up(name, timeout_s=timeout)
    if already:
        out.print(f"{name}: already running (pid {state.pid}, port {state.port})")
    else:
        out.print(f"{name}: up in {time.monotonic() - started:.0f} s ({state.mode}, pid {state.pid}, "
                  f"ssh on 127.0.0.1:{state.port}); ssh config: {ssh_config_path()}")
    if relocated():
        out.print(f"cache relocated: export EDGEPROF_DEVICE_PATH={emulate_dir() / 'devices'} to use --device {name}")


@emulate_app.command("down")
def emulate_down(
    name: Annotated[str, typer.Argument(metavar="DEVICE", help="Emulated device to power off.")],
    icount: Annotated[bool, typer.Option("--icount", help="Stop DEVICE's -icount twin.")] = False,
) -> None:
    """Power the VM off cleanly (killed after a bound) and remove its overlay disk."""
    name = vm.device_name(name, icount)
    stopped = vm.down(name)
    console(stderr=True).print(f"{name}: {'powered off' if stopped else 'was not running (cleaned up)'}")


@emulate_app.command("status")
def emulate_status(as_json: JsonOption = False) -> None:
    """List the VMs: mode, port, PID, uptime; stale ones (dead PID) are cleaned up."""
    rows = vm.status()
    if as_json:
        print(json.dumps([_row(s) for s in rows], indent=2))
        return
    if not rows:
        console().print("no emulated devices running")
        return
    table = Table(title="Emulated devices")
    for column in ("name", "state", "mode", "port", "pid", "uptime"):
        table.add_column(column)
    for s in rows:
        row = _row(s)
        uptime = row["uptime_s"]
        table.add_row(s.name, row["state"], row["mode"] or "", str(row["port"] or ""), str(row["pid"] or ""),
                      f"{uptime:.0f} s" if uptime is not None else "")
    console().print(table)


def _row(s: vm.VmStatus) -> dict[str, Optional[object]]:
    st = s.state
    return {
        "name": s.name,
        "state": "running" if s.running else "stale (cleaned up)",
        "mode": st.mode if st else None,
        "port": st.port if st else None,
        "pid": st.pid if st else None,
        "uptime_s": round(st.uptime_s(), 1) if st and s.running else None,
    }
