"""`edgeprof demo`: the sample shipped inside the package, profiled on this machine, and what to try next.

The sample is the repository's models/digits (a 10-class digits classifier in fp32, fp16 and int8 variants and its
labelled held-out split), reached through the link edgeprof/sample -> ../models/digits and packaged from there,
so a wheel carries it and there is one copy of it.
"""

from __future__ import annotations

from pathlib import Path

from edgeprof.paths import package_path
from edgeprof.plan import Plan, Request, make_plan

SAMPLE = "sample"
DEVICE = "local"
MODELS = ("digits-fp32.onnx", "digits-fp16.onnx", "digits-int8-static.onnx", "digits-int8-static.tflite")
DATASET = "test.npz"
REPORT = "report.html"


def sample_dir() -> Path:
    """The folder of the shipped sample (inside the installed package)."""
    return package_path(SAMPLE)


def demo_plan() -> Plan:
    """The sample's four variants (ONNX fp32, fp16, int8 static; TFLite int8 static) on this machine, each scored
    on the sample's labelled test set and judged against the `local` profile's constraints."""
    sample = sample_dir()
    return make_plan(Request(models=[sample / name for name in MODELS], devices=[DEVICE], dataset=sample / DATASET))


def next_steps(store_flag: str) -> list[tuple[str, str]]:
    """What to run after the demo, as (what, command) pairs; `store_flag` (' --store PATH' or '') is added to the
    commands that read the store the demo wrote."""
    return [
        ("the runs stored", f"edgeprof runs list{store_flag}"),
        ("your own model", "edgeprof deploy --model model.onnx --dataset test.npz"),
        ("its variants", "edgeprof sweep model.onnx --dataset test.npz   (fp16, int8: which to ship)"),
        ("a Raspberry Pi", "edgeprof doctor --device pi4 --host ADDRESS --user USER --accept-new-host-key"),
        ("", "edgeprof deploy --device pi4 --host ADDRESS --user USER --model model.onnx --dataset test.npz"),
        ("the docs", "edgeprof docs   (a Pi of your own: edgeprof docs device-profiles)"),
    ]
