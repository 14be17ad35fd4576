"""`edgeprof convert`: a source model to ONNX and/or TFLite, each output loaded and run in its runtime and checked
against the source framework's outputs on the same inputs (in a staging folder inside <out>), then moved into place
and recorded in <out>/manifest.json in one step."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.artifacts import load_artifact, printable, read_npz
from edgeprof.convert.fidelity import ATOL, MIN_COSINE, Fidelity, compare
from edgeprof.convert.formats import Source, detect_source, needed_extra, require
from edgeprof.convert.sources import InputSpec, SourceModel
from edgeprof.convert.variants import VariantFailed, VariantResult, quiet_converter
from edgeprof.errors import ConfigError, one_line

RANDOM_SAMPLES = 8  # seeded random batches when no dataset is given
MAX_DATASET_SAMPLES = 64
NHWC = (0, 2, 3, 1)


@dataclass(frozen=True)
class ConvertOptions:
    """Everything about a conversion but the source and the targets."""

    out_dir: Path
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dataset: Path | None = None
    force: bool = False
    allow_pickle: bool = False
    atol: float = ATOL
    min_cosine: float = MIN_COSINE
    seed: int = 0


@dataclass(frozen=True)
class ConversionResult(VariantResult):
    """One converted model as manifest.json records it: a VariantResult (variant fp32, the converter as `method`,
    its options as `parameters`) with the source's kind, the layout change and the fidelity figures."""

    source_kind: str = ""
    layout: str | None = None
    fidelity: dict[str, Any] = field(default_factory=dict)


CONVERSION_KEYS = frozenset(f.name for f in fields(ConversionResult))  # what a manifest entry convert wrote holds


class ConversionFailed(VariantFailed):
    """A converted model strays past the tolerance from its source (exit 1; the file removed)."""


def convert_model(src: str, targets: list[str], options: ConvertOptions) -> list[ConversionResult]:
    """Convert `src` to each target in options.out_dir (existing files refused unless options.force), check each
    output against the source and record those that pass; ConversionFailed naming the worst output of the first
    that does not."""
    source = detect_source(src, allow_pickle=options.allow_pickle)
    paths = output_paths(source, targets, options.out_dir)
    taken = [p for t, p in paths.items() if p.exists() or (t == "onnx" and _data_beside(p).exists())]
    if taken and not options.force:
        raise ConfigError(f"{printable(str(taken[0]))} already exists: pass --force to replace it, or --out DIR")
    return convert_source(load_source(source, targets, options.input_shapes), source, paths, options)


def output_paths(source: Source, targets: list[str], out_dir: Path) -> dict[str, Path]:
    """Where each target format of `source` is written: <out>/<source name>.<format>."""
    return {t: out_dir / f"{source.name}.{t}" for t in targets}


def load_source(source: Source, targets: list[str], shapes: dict[str, tuple[int, ...]]) -> SourceModel:
    """The source loaded in its framework (`shapes`: --input-shape's dims by input name); one ConfigError naming
    what to install when a converter the targets need is missing, or why the model does not load."""
    require(needed_extra(source, targets), f"converting {printable(source.where)} to {', '.join(targets)}")
    with quiet_converter():
        return _load(source, shapes)


def convert_source(model: SourceModel, source: Source, paths: dict[str, Path],
                   options: ConvertOptions) -> list[ConversionResult]:
    """Convert the loaded source to each target's path (output_paths), check and record each as convert_model
    does."""
    feeds, inputs_from = _feeds(model.inputs, options)
    with quiet_converter():
        expected = [model.run(batch) for batch in feeds]
    options.out_dir.mkdir(parents=True, exist_ok=True)
    from edgeprof.convert import commit

    results: list[ConversionResult] = []
    for target, path in paths.items():  # each output that passes is in place and recorded before the next
        with tempfile.TemporaryDirectory(dir=options.out_dir, prefix=".convert-") as staging:
            made = _convert_one(model, source, target, Path(staging) / path.name, feeds, expected, inputs_from,
                                options)
            results += commit(options.out_dir, [made])
    return results


def source_outputs(model: SourceModel, samples: list[np.ndarray]) -> np.ndarray:
    """The source framework's first output on every sample (`samples`: one array per input, samples first, as
    dataset_samples or random_samples give them), run in the source's batch and flattened per sample (samples x
    values, float32): what a device compares each model converted from it with (spec.REFERENCE_OUTPUTS_KEY)."""
    batch = model.inputs[0].shape[0] if model.inputs else 1
    count = len(samples[0]) if samples else 1
    if count % batch:
        raise ConfigError(f"the {count} samples do not split into the source's batch of {batch}")
    with quiet_converter():
        firsts = [model.run([a[i:i + batch] for a in samples])[0] for i in range(0, count, batch)]
    return np.concatenate([np.asarray(f, np.float32).reshape(batch, -1) for f in firsts])


def dataset_samples(inputs: list[InputSpec], dataset: Path, limit: int | None = None) -> list[np.ndarray]:
    """The dataset's samples for each input (its array by name, plain name or `x`; the first `limit` of them), in
    the input's dtype; ConfigError naming the file when an input has no array or samples of other dims."""
    from edgeprof.agent.inputs import dataset_key

    arrays = read_npz(dataset, "dataset")
    chosen = []
    for spec in inputs:
        key = dataset_key(spec.name, list(arrays), len(inputs))
        if key is None:
            raise ConfigError(f"dataset {printable(str(dataset))}: no array for input '{spec.name}' "
                              f"(keys: {', '.join(sorted(arrays))})")
        array = arrays[key]
        if tuple(array.shape[1:]) != spec.shape[1:]:
            raise ConfigError(f"dataset {printable(str(dataset))}: '{key}' has samples of shape "
                              f"{list(array.shape[1:])}, input '{spec.name}' takes {list(spec.shape[1:])}")
        chosen.append(array[:limit].astype(spec.dtype))
    return chosen


def random_samples(inputs: list[InputSpec], count: int, seed: int) -> list[np.ndarray]:
    """`count` seeded random samples for each input (whole batches of the source's: at least one), as convert's
    own checks draw them."""
    rng = np.random.default_rng(seed)
    batch = inputs[0].shape[0] if inputs else 1
    total = batch * max(1, count // batch)
    return [_random(rng, spec, (total, *spec.shape[1:])) for spec in inputs]


def _load(source: Source, shapes: dict[str, tuple[int, ...]]) -> SourceModel:
    try:
        if source.framework == "torch":
            from edgeprof.convert.torch_source import TorchModel

            return TorchModel(source, shapes)
        if source.framework == "keras":
            from edgeprof.convert.keras_source import KerasModel

            return KerasModel(source, shapes)
        from edgeprof.convert.file_sources import FileModel

        return FileModel(source, shapes)
    except ConfigError:
        raise
    except Exception as exc:  # each framework raises its own errors for a model it cannot load
        raise ConfigError(f"{printable(source.where)}: cannot load the {source.framework} model "
                          f"({one_line(exc, 200)})") from exc


def _data_beside(path: Path) -> Path:
    return path.with_name(f"{path.name}.data")


def _feeds(inputs: list[InputSpec], options: ConvertOptions) -> tuple[list[list[np.ndarray]], str]:
    """The batches both models run: the dataset's first samples (one array per input by name, or `x`), cut into
    the inputs' batch size, else RANDOM_SAMPLES seeded random ones."""
    if options.dataset is None:
        rng = np.random.default_rng(options.seed)
        return [[_random(rng, i, i.shape) for i in inputs] for _ in range(RANDOM_SAMPLES)], "seeded random"
    chosen = dataset_samples(inputs, options.dataset, MAX_DATASET_SAMPLES)
    batch = inputs[0].shape[0] if inputs else 1
    count = min(len(a) for a in chosen) // batch
    if count == 0:
        raise ConfigError(f"dataset {printable(str(options.dataset))} holds fewer samples than one batch of "
                          f"{batch}")
    return [[a[i * batch:(i + 1) * batch] for a in chosen] for i in range(count)], "dataset"


def _random(rng: np.random.Generator, spec: InputSpec, shape: tuple[int, ...]) -> np.ndarray:
    kind = np.dtype(spec.dtype).kind
    if kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    if kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(0, 10, shape).astype(spec.dtype)


def _convert_one(model: SourceModel, source: Source, target: str, path: Path, feeds: list[list[np.ndarray]],
                 expected: list[list[np.ndarray]], inputs_from: str, options: ConvertOptions) -> ConversionResult:
    """Convert to `path` (in a staging folder, with any external data beside it) and check the output."""
    try:
        with quiet_converter():
            made = model.convert(target, path)
    except ConfigError:
        raise
    except Exception as exc:  # converters raise anything from ValueError to their own errors
        raise ConfigError(f"{printable(source.where)}: {path.suffix[1:].upper()} conversion failed "
                          f"({one_line(exc, 300)})") from exc
    layout, fidelity = _check(model, path, target, feeds, expected, inputs_from, options)
    if not fidelity.passes:
        worst = fidelity.worst
        raise ConversionFailed(f"{path.name} strays from the {source.framework} source: output "
                               f"'{worst.name}' {worst.text()}; not written")
    artifact = load_artifact(path)
    return ConversionResult(
        path, source.name, "fp32", target, artifact.sha256, artifact.size_bytes, source.sha256, source.where,
        made.converter, made.options, made.tools, [d.describe() for d in artifact.data_files],
        source_kind=source.kind, layout=layout, fidelity=fidelity.record())


def _check(model: SourceModel, path: Path, target: str, feeds: list[list[np.ndarray]],
           expected: list[list[np.ndarray]], inputs_from: str,
           options: ConvertOptions) -> tuple[str | None, Fidelity]:
    """Load the output in its runtime (as a device would), run it on the feeds (transposed where it takes NHWC
    for the source's NCHW) and compare; ConversionFailed when it does not load or run."""
    from edgeprof.agent.backends import open_runtime

    try:
        with quiet_converter():
            runtime = open_runtime(str(path), target, 1)
            order = _matched(model.inputs, [info.name for info in runtime.inputs])
            layouts = [_layout(model.inputs[i].shape, tuple(info.shape)) for i, info in zip(order, runtime.inputs)]
            got = []
            for batch in feeds:
                arrays = [np.transpose(batch[i], NHWC) if lay else batch[i] for i, lay in zip(order, layouts)]
                got.append(runtime.run({info.name: a for info, a in zip(runtime.inputs, arrays)}))
    except Exception as exc:  # whatever the runtime raises
        raise ConversionFailed(f"{path.name} does not load or run in its runtime ({one_line(exc, 300)}); "
                               "not written") from exc
    names = [o.name for o in runtime.outputs]
    if len(names) != len(expected[0]):
        raise ConversionFailed(f"{path.name} has {len(names)} outputs, the source {len(expected[0])}; not written")
    stacked_want = [np.concatenate([batch[i] for batch in expected]) for i in range(len(names))]
    stacked_got = [np.concatenate([batch[i] for batch in got]) for i in range(len(names))]
    fidelity = compare(names, stacked_want, stacked_got, samples=sum(len(b[0]) for b in feeds),
                       inputs_from=inputs_from, atol=options.atol, min_cosine=options.min_cosine)
    return ("NCHW->NHWC" if any(layouts) else None), fidelity


def _matched(sources: list[InputSpec], names: list[str]) -> list[int]:
    """For each input of the converted model (by `names`), the index of the source input it is: by name (a
    TFLite signature's `serving_default_NAME:0` is NAME; its inputs need not come in the source's order) where
    every name finds a different one, else by position."""
    from edgeprof.agent.spec import plain_name, resolve_name

    wanted = [spec.name for spec in sources]
    found = [resolve_name(plain_name(name), wanted) for name in names]
    if None in found or len(set(found)) != len(found) or len(found) != len(wanted):
        return list(range(len(names)))
    return [wanted.index(name) for name in found if name is not None]


def _layout(source: tuple[int, ...], made: tuple[int | None, ...]) -> bool:
    """Whether the converted input takes NHWC where the source takes NCHW (4-D, channels moved last)."""
    if len(source) != 4 or tuple(source) == tuple(made):
        return False
    return tuple(source[i] for i in NHWC) == tuple(made)

