"""`edgeprof convert`: a PyTorch, Keras, SavedModel, ONNX or TFLite model to ONNX and/or TFLite, each output
checked against the source framework's outputs and recorded in a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgeprof.cli.app import app, console
from edgeprof.cli.options import JsonOption
from edgeprof.model_inputs import parse_input_shape


@app.command("convert")
def convert_command(
    source: Annotated[str, typer.Argument(metavar="SOURCE",
                                          help="The model: .onnx, .tflite, .keras, .h5, a SavedModel folder, a "
                                               "torch.export .pt2, or package.module:factory (returns an nn.Module).")],
    to: Annotated[str, typer.Option("--to", metavar="FORMAT[,FORMAT...]",
                                    help="Comma-separated: onnx, tflite.")] = "onnx,tflite",
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                                                help="Output folder. Default: beside the source.")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", metavar="NAME=SHAPE",
        help="NAME=1x3x224x224: an input's dims where the source does not fix them (a factory "
             "always needs them; the names become the ONNX input names). Repeatable.")] = None,
    dataset: Annotated[Optional[Path], typer.Option(
        "--dataset", metavar="PATH",
        help="NPZ whose samples (one array per input, or x) both models run; else seeded random.")]
    = None,
    atol: Annotated[Optional[float], typer.Option("--atol", metavar="TOLERANCE",
                                                  help="Largest max abs difference allowed, relative to "
                                                       "the source output's largest magnitude (at least 1). Default: "
                                                       "1e-3.")] = None,
    min_cosine: Annotated[Optional[float], typer.Option("--min-cosine", metavar="COSINE",
                                                        help="Least cosine similarity allowed. "
                                                             "Default: 0.999.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace outputs that already exist.")] = False,
    allow_pickle: Annotated[bool, typer.Option(
        "--allow-pickle", help="Load a pickled .pt/.pth module: this RUNS ANY CODE the file holds; only for files "
                               "you trust.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Convert a model; each output is loaded, run and compared with the source (max abs difference, cosine,
    top-1 agreement), and recorded in DIR/manifest.json (--out DIR). Past the tolerance: exit 1, nothing written."""
    from edgeprof.convert.converting import ConvertOptions, convert_model  # numpy and converters: this command only
    from edgeprof.convert.fidelity import ATOL, MIN_COSINE
    from edgeprof.convert.formats import parse_targets

    shapes = {entry.key: entry.value for entry in map(parse_input_shape, input_shape or [])}
    out_dir = out if out is not None else (Path(source).parent if Path(source).exists() else Path.cwd())
    options = ConvertOptions(out_dir, shapes, dataset, force, allow_pickle, ATOL if atol is None else atol,
                             MIN_COSINE if min_cosine is None else min_cosine)
    results = convert_model(source, parse_targets(to), options)
    if as_json:
        print(json.dumps([r.manifest_entry(out_dir) for r in results], indent=2))
        return
    table = Table(title=f"{source} converted  (manifest: {out_dir / 'manifest.json'})")
    for column, justify in (("file", "left"), ("converter", "left"), ("output", "left"), ("max abs diff", "right"),
                            ("cosine", "right"), ("top-1 agree", "right"), ("layout", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        for o in r.fidelity["outputs"]:
            top1 = "-" if o["top1_agreement"] is None else f"{o['top1_agreement']:.3f}"
            table.add_row(r.path.name, r.method, o["name"], f"{o['max_abs_diff']:.3g}", f"{o['cosine']:.6f}", top1,
                          r.layout or "same")
    console().print(table)
    samples = results[0].fidelity if results else {}
    if samples:
        console().print(f"fidelity over {samples['samples']} samples ({samples['inputs']} inputs)")
