"""`edgeprof devices list|show`: the device profiles edgeprof can see."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from edgeprof.cli.app import console, devices_app
from edgeprof.cli.options import JsonOption
from edgeprof.devices import load_profile, profile_files


@devices_app.command("list")
def devices_list(as_json: JsonOption = False) -> None:
    """List every visible device profile and where it comes from."""
    profiles = [load_profile(name) for name in profile_files()]
    if as_json:
        print(json.dumps([{"name": p.name, "kind": p.kind, "source": str(p.source)} for p in profiles], indent=2))
        return
    table = Table(title="Device profiles")
    for column in ("name", "kind", "description", "emulated", "source"):
        table.add_column(column)
    for p in profiles:
        table.add_row(p.name, p.kind, p.description, p.emulation or "", str(p.source))
    console(markup=False).print(table)


@devices_app.command("show")
def devices_show(
    name: Annotated[str, typer.Argument(metavar="DEVICE", help="Device profile name, e.g. pi4.")],
    as_json: JsonOption = False,
) -> None:
    """Show one device profile, validated, with its defaults filled in."""
    profile = load_profile(name)
    data = asdict(profile)
    data["source"] = str(profile.source)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    out = console(markup=False)
    out.print(Text.assemble((profile.name, "bold"), f": {profile.description}  ({profile.source})"))
    for section in ("hardware", "connection", "power", "constraints", "cost"):
        if data.get(section):
            out.print(section, style="bold")
            for key, value in data[section].items():
                if value is not None:
                    out.print(f"  {key} = {value}")
    if profile.threads:
        out.print("runtime", style="bold")
        out.print(f"  threads = {profile.threads}")
    if profile.emulation:
        calibrated = "calibrated" if profile.emulation_calibrated else "not calibrated: latency is informational"
        out.print("emulation", style="bold")
        out.print(f"  {profile.emulation} ({calibrated})")
