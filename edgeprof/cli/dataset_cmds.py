"""`edgeprof dataset build|show`: NPZ datasets from image folders, CSV or .npy files, and what one holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from edgeprof.cli.app import app, console
from edgeprof.cli.options import JsonOption
from edgeprof.dataset import (
    BuildRequest,
    Preprocessing,
    build_dataset,
    parse_classes,
    parse_floats,
    parse_scale,
    parse_size,
    summarize,
)

dataset_app = typer.Typer(help="Build NPZ datasets (for deploy --dataset, quantize --calibration) and inspect them.",
                          no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
def dataset_build(
    src: Annotated[Path, typer.Argument(metavar="SOURCE",
                                        help="A folder of images or .npy files (class subfolders give the labels), "
                                             "or a CSV of feature columns and a label column.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="PATH", help="The NPZ to write (atomically).")],
    labels: Annotated[Optional[Path], typer.Option(
        "--labels", metavar="PATH",
        help="CSV of FILE,LABEL rows (header first) for a folder without class subfolders.")] = None,
    label_column: Annotated[Optional[str], typer.Option(
        "--label-column", metavar="NAME", help="The label column of the CSV (default: label).")] = None,
    classes: Annotated[Optional[str], typer.Option(
        "--classes", metavar="CLASS[,CLASS...]|PATH",
        help="The class order the model was trained with (label i is the i-th "
             "name; a file: one name a line). Default: sorted names.")] = None,
    model: Annotated[Optional[Path], typer.Option(
        "--model", "-m", metavar="PATH",
        help="Take size, layout, colour and dtype from this model's input when not given; int8/uint8 "
             "inputs are quantised with its scale and zero point.")] = None,
    input_name: Annotated[Optional[str], typer.Option(
        "--input", metavar="NAME",
        help="The model input the samples feed (needed when it has several); without --model, the key "
             "to write (default x).")] = None,
    resize: Annotated[Optional[str], typer.Option("--resize", metavar="HxW", help="Resize images to HEIGHTxWIDTH "
                                                  "(bilinear).")] = None,
    crop: Annotated[Optional[str], typer.Option("--crop", metavar="center",
                                                help="center: keep the aspect ratio, cut the middle to the "
                                                     "--resize size.")] = None,
    color: Annotated[Optional[str], typer.Option("--color", metavar="rgb|bgr|gray",
                                                 help="rgb (default), bgr or gray.")] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", metavar="FACTOR",
                                                 help="Multiply values by this, e.g. 1/255.")] = None,
    mean: Annotated[Optional[str], typer.Option("--mean", metavar="X[,X...]",
                                                help="Subtract after --scale: one value or one per "
                                                     "channel, e.g. 0.485,0.456,0.406.")] = None,
    std: Annotated[Optional[str], typer.Option("--std", metavar="X[,X...]",
                                               help="Divide by after --mean: one value or one per "
                                                    "channel.")] = None,
    layout: Annotated[Optional[str], typer.Option("--layout", metavar="nhwc|nchw",
                                                  help="nhwc (default) or nchw.")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", metavar="DTYPE",
                                                 help="float32 (default), float16, float64, int8, uint8, "
                                                      "int16, int32, int64.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", metavar="N",
                                                 help="Keep this many samples (seeded, stratified by "
                                                      "label).")] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of --limit and --split.")] = 0,
    split: Annotated[Optional[float], typer.Option(
        "--split", metavar="FRACTION", help="Hold out this fraction (stratified by label) in PATH-calibration.npz "
                                            "(PATH: --out without .npz); --out gets the rest.")]
    = None,
    as_json: JsonOption = False,
) -> None:
    """Build an NPZ dataset: x (or the input's name), y (class indices) and class_names when labels are names."""
    prep = Preprocessing(
        resize=parse_size(resize) if resize is not None else None, crop=crop, color=color,
        scale=parse_scale(scale) if scale is not None else None,
        mean=parse_floats(mean, "--mean") if mean is not None else (),
        std=parse_floats(std, "--std") if std is not None else (), layout=layout, dtype=dtype)
    class_order = parse_classes(classes) if classes is not None else None
    written = build_dataset(BuildRequest(src, out, prep, labels, label_column, class_order, model, input_name, limit,
                                         seed, split))
    summaries = [summarize(path) for path in written]
    if as_json:
        print(json.dumps(summaries, indent=2))
        return
    for summary in summaries:
        console(markup=False).print(f"wrote {summary['path']}: {_headline(summary)}")


def _headline(summary: dict[str, Any]) -> str:
    """'120 samples, x [120, 96, 96, 3] float32, 3 classes' for a summary."""
    inputs = ", ".join(f"{i['key']} {i['shape']} {i['dtype']}" for i in summary["inputs"])
    labels = summary["labels"]
    classes = f"{len(labels['classes'])} classes" if labels else "no labels"
    return f"{summary['samples']} samples, {inputs}, {classes}"


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@dataset_app.command("show")
def dataset_show(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="An NPZ dataset.")],
    as_json: JsonOption = False,
) -> None:
    """Inputs (shape, dtype, min/max/mean, NaN and inf counts) and label counts of an NPZ dataset."""
    summary = summarize(path)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    out = console(markup=False)
    out.print(f"{path}: {_headline(summary)}")
    table = Table()
    for column, justify in (("input", "left"), ("shape", "left"), ("dtype", "left"), ("min", "right"),
                            ("max", "right"), ("mean", "right"), ("NaN", "right"), ("inf", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in summary["inputs"]:
        table.add_row(entry["key"], str(entry["shape"]), entry["dtype"], _figure(entry["min"]),
                      _figure(entry["max"]), _figure(entry["mean"]), str(entry["nan"]), str(entry["inf"]))
    out.print(table)
    labels = summary["labels"]
    if labels is None:
        out.print("labels: none (no y): accuracy needs labels; agreement with a reference does not")
        return
    out.print(f"labels y: {labels['dtype']}, {labels['count']} samples")
    counts = Table()
    named = summary["class_names"] is not None
    for column, justify in (("label", "right"), *((("class", "left"),) if named else ()), ("count", "right")):
        counts.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in labels["classes"]:
        counts.add_row(str(entry["label"]), *((entry["name"] or "",) if named else ()), str(entry["count"]))
    out.print(counts)
