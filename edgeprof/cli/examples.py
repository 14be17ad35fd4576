"""One example command line per command, shown at the end of its --help (the one home of them)."""

from __future__ import annotations

import typer

from edgeprof.cli.app import registered

EXAMPLES = {
    "demo": "edgeprof demo --out demo/",
    "docs": "edgeprof docs verdicts",
    "check": "edgeprof check --latest --constraint 'latency.p95_ms<=20' --junit verdicts.xml --baseline baseline",
    "recommend": "edgeprof recommend --device pi4 --model digits",
    "history": "edgeprof history --device pi4 --model digits --plot trend.png",
    "compare": "edgeprof compare baseline latest",
    "explain": "edgeprof explain baseline latest",
    "deploy": "edgeprof deploy --device pi4 --model model.onnx --dataset test.npz",
    "doctor": "edgeprof doctor --device pi4 --accept-new-host-key",
    "sweep": "edgeprof sweep model.pt2 --device pi5 --formats onnx,tflite --dataset test.npz   (or model.onnx)",
    "clean": "edgeprof clean --device pi4",
    "plot": "edgeprof plot --latest --out figures/ --format png,svg",
    "report": "edgeprof report --latest --out report.html   (report.md: Markdown)",
    "quantize": "edgeprof quantize model.onnx --variants fp16,int8-static --calibration calibration.npz --out variants/",
    "watch": "edgeprof watch --device pi4 --model model.onnx --every 1h --for 24h --baseline auto",
    "devices list": "edgeprof devices list",
    "devices show": "edgeprof devices show pi4",
    "runs list": "edgeprof runs list --limit 5",
    "runs show": "edgeprof runs show latest --json",
    "runs tag": "edgeprof runs tag latest baseline",
    "dataset build": "edgeprof dataset build photos/ --model model.onnx --out test.npz",
    "dataset show": "edgeprof dataset show test.npz",
    "emulate build": "edgeprof emulate build qemu-pi4",
    "emulate up": "edgeprof emulate up qemu-pi4",
    "emulate down": "edgeprof emulate down qemu-pi4",
    "emulate status": "edgeprof emulate status",
    "emulate key": "edgeprof emulate key qemu-pi4   (the CI cache key of the board's image)",
    "emulate export": "edgeprof emulate export qemu-pi4 --out qemu-pi4-image.tar",
    "emulate import": "edgeprof emulate import qemu-pi4-image.tar",
    "convert": "edgeprof convert mypkg.models:make_net --input-shape image=1x3x224x224 --to onnx,tflite --out converted/",
    "store copy": "edgeprof store copy .edgeprof/results.db postgresql://ci@db:5432/edgeprof",
    "store flush": "edgeprof store flush --store postgresql://ci@db:5432/edgeprof",
}


def add_examples(app: typer.Typer) -> None:
    """Give every registered command its example as the --help epilog (groups: their commands, recursively)."""
    for name, command in registered(app):
        if name in EXAMPLES:
            command.epilog = f"Example: {EXAMPLES[name]}"
