"""`edgeprof quantize`: write fp16/int8 variants of an fp32 model on the host and record them in a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgeprof.cli.app import app, console
from edgeprof.cli.options import JsonOption
from edgeprof.errors import ConfigError
from edgeprof.units import file_size


def parse_variants(text: str) -> list[str]:
    """'fp16, int8-dynamic' -> ['fp16', 'int8-dynamic'] (order kept, duplicates dropped)."""
    variants = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not variants:
        raise ConfigError("--variants is empty: name at least one, e.g. --variants fp16,int8-dynamic")
    return variants


@app.command("quantize")
def quantize_command(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="The fp32 source model (.onnx, .tflite, .gguf, or "
                                                               "an ONNX Runtime GenAI model folder).")],
    variants: Annotated[str, typer.Option("--variants", metavar="VARIANT[,VARIANT...]",
                                          help="Comma-separated: fp16, int8-dynamic, int8-static (ONNX); fp16, "
                                               "int8-dynamic, int8-weight-only, int8-static (TFLite); q8_0, q4_0, "
                                               "q4_k_m (GGUF); int4 (GenAI folder).")]
    = "fp16,int8-dynamic",
    calibration: Annotated[Optional[Path], typer.Option(
        "--calibration", metavar="PATH",
        help="NPZ of calibration inputs (one array per input, or x); needed by int8-static.")]
    = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                                                help="Output folder. Default: beside the model.")] = None,
    qoperator: Annotated[bool, typer.Option("--qoperator", help="ONNX int8-static in QOperator form "
                                            "(QLinearConv ...) instead of QDQ.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace variant files quantize did not write (a "
                                        "curated or edited file and its manifest entry).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make host-side variants of a model; each is recorded in DIR/manifest.json (--out DIR) with its source and method."""
    from edgeprof.artifacts import load_artifact
    from edgeprof.convert import quantize  # numpy and the converters: only this command needs them

    out_dir = out if out is not None else model.parent
    results = quantize(model, parse_variants(variants), out_dir, calibration, qoperator=qoperator, force=force)
    if as_json:
        print(json.dumps([r.manifest_entry(out_dir) for r in results], indent=2))
        return
    table = Table(title=f"Variants of {model.name}  (manifest: {out_dir / 'manifest.json'})")
    for column, justify in (("variant", "left"), ("file", "left"), ("size", "right"), ("vs source", "right"),
                            ("method", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    source_size = load_artifact(model).size_bytes  # with its external data files, like each variant's
    for r in results:
        table.add_row(r.variant, str(r.path), file_size(r.size_bytes),
                      f"{r.size_bytes / source_size:.2f}x", r.method)
    console().print(table)
