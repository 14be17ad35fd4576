"""`sweep`: a model made into variants, then the model and every variant measured the way `deploy` does (the plan it
returns goes to pipeline.deploy_judge_store).

From an fp32 ONNX, TFLite or GGUF file: its variants, each compared on the device with the file, run beside it (a
GGUF variant with its sibling one precision up where the sweep made one: artifacts.reference_for). From
the model the user trained (what `convert` takes: a torch.export program, a `package.module:factory`, a Keras
model, a SavedModel): converted into each format, each conversion quantised into the variants, and every one of
them compared with the source framework's own outputs on the dataset's samples. No device runs PyTorch or Keras,
so those outputs are computed here and sent as a reference outputs NPZ (spec.RunSpec.reference_outputs), which
the agent compares with as it compares with a reference model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from edgeprof.agent.spec import FORMATS, REFERENCE_OUTPUTS_KEY
from edgeprof.artifacts import ReferenceOutputs, load_artifact, printable, sha256_file
from edgeprof.errors import ConfigError
from edgeprof.plan import Plan, Request, Settings, checked_settings, plan_models

if TYPE_CHECKING:
    from edgeprof.convert.formats import Source
    from edgeprof.convert.sources import SourceModel

# what --variants means when not given: a file's by its format (a source's are made of each ONNX and TFLite model)
DEFAULT_VARIANTS = {"onnx": "fp16,int8-dynamic,int8-static", "tflite": "fp16,int8-dynamic,int8-static",
                    "gguf": "q8_0,q4_0,q4_k_m"}
DEFAULT_FORMATS = "onnx,tflite"  # what a source is converted into
FP32 = "fp32"  # the model itself (the file, or each conversion): always measured, so naming it changes nothing
CALIBRATED = "int8-static"  # the variant that needs calibration inputs
SOURCE_SAMPLES = 64  # seeded random samples a source is compared on without --dataset (the agent's own count)


@dataclass(frozen=True)
class SweepOptions:
    """What a sweep makes: the variants (besides the fp32 model; None: DEFAULT_VARIANTS), the formats a source is
    converted into (None: DEFAULT_FORMATS; a file's own only), where they go (None: .edgeprof/variants/<name>), the
    calibration NPZ, and whether a pickled PyTorch module may be loaded."""

    variants: Sequence[str] | None
    formats: str | None = None
    out: Path | None = None
    calibration: Path | None = None
    allow_pickle: bool = False


@dataclass(frozen=True)
class Sweep:
    """What a sweep measures, where its variants went, what it left out (one note each), and what every model's
    agreement, SQNR and accuracy drop are measured against (`compared`, in words)."""

    plan: Plan
    out_dir: Path
    notes: list[str]
    compared: str


def sweep_plan(request: Request, model: str, options: SweepOptions) -> Sweep:
    """Check the request (its models are ignored: `model` is the sweep's), make the variants into options.out and
    plan to measure the fp32 model(s) and every variant on every device: a model file (by its name's suffix) with
    each variant against it, a source (anything else `convert` takes) through its conversions, each compared with
    the source's outputs. The request's --input-shape entries are a file's dynamic dims, a source's conversion
    dims. int8-static calibrates on options.calibration, else on the --dataset's inputs; with neither it is left
    out with a note (a ConfigError when it was the only variant)."""
    if options.variants is not None and not options.variants:
        raise ConfigError("--variants is empty: name at least one, e.g. --variants fp16,int8-dynamic")
    settings = checked_settings(request)
    if Path(model).suffix.lower() in tuple(f".{f}" for f in FORMATS):
        return _file_sweep(settings, Path(model), options)
    return _source_sweep(settings, model, _chosen(options, "onnx"), options)


def _chosen(options: SweepOptions, file_format: str) -> list[str]:
    """The variants to make besides the fp32 model: --variants, else DEFAULT_VARIANTS of the format."""
    given = options.variants if options.variants is not None else DEFAULT_VARIANTS[file_format].split(",")
    return [v for v in given if v != FP32]


def _calibrated(variants: list[str], calibration: Path | None, notes: list[str]) -> list[str]:
    """The variants that can be made: int8-static left out (with a note) when there are no calibration inputs
    and other variants remain (alone, quantize says what it needs)."""
    if CALIBRATED in variants and calibration is None and len(variants) > 1:
        variants = [v for v in variants if v != CALIBRATED]
        notes.append(f"note: {CALIBRATED} left out: it needs calibration inputs (--calibration NPZ, or --dataset "
                     "NPZ whose inputs it then uses)")
    return variants


def _file_sweep(settings: Settings, path: Path, options: SweepOptions) -> Sweep:
    """An fp32 model file and its variants, each variant compared with the file on the device (a GGUF variant with
    its sibling one precision up, where the sweep made it)."""
    from edgeprof.convert import quantize  # numpy, onnx and the converters: only when a sweep runs

    artifact = load_artifact(path)
    variants = _chosen(options, artifact.format)
    if options.formats is not None and [f.strip().lower() for f in options.formats.split(",")] != [artifact.format]:
        raise ConfigError(f"--formats {options.formats}: {printable(path.name)} is {artifact.format.upper()}, swept "
                          "in its own format only; for others, sweep the PyTorch or Keras model it came from")
    out_dir = options.out or Path(".edgeprof") / "variants" / artifact.name
    calibration = options.calibration or settings.request.dataset
    notes: list[str] = []
    made = quantize(path, _calibrated(variants, calibration, notes), out_dir, calibration)
    compared = f"the fp32 model {printable(path.name)}, run beside each variant on the device"
    if artifact.format == "gguf":
        compared = (f"each variant's sibling one precision up where the sweep made it (q8_0 for q4_0 and q4_k_m), "
                    f"else {printable(path.name)}, run beside it on the device")
    return Sweep(plan_models(settings, [path, *(v.path for v in made)]), out_dir, notes, compared)


def _source_sweep(settings: Settings, text: str, variants: list[str], options: SweepOptions) -> Sweep:
    """A source converted into each format, every conversion quantised; each model compared with the source's
    outputs on the dataset's samples."""
    from edgeprof.convert import quantize, refuse_foreign
    from edgeprof.convert.converting import CONVERSION_KEYS, ConvertOptions, convert_source, load_source, output_paths
    from edgeprof.convert.formats import detect_source, parse_targets
    from edgeprof.model_inputs import parse_input_shape

    request = settings.request
    shapes = {entry.key: entry.value for entry in map(parse_input_shape, request.input_shapes)}
    source = detect_source(text, allow_pickle=options.allow_pickle)
    targets = parse_targets(options.formats or DEFAULT_FORMATS, "--formats")
    notes: list[str] = []
    calibration = options.calibration or request.dataset
    chosen = _per_format(_calibrated(variants, calibration, notes), targets, notes)
    out_dir = options.out or Path(".edgeprof") / "variants" / source.name
    paths = output_paths(source, targets, out_dir)
    refuse_foreign(list(paths.values()), out_dir, CONVERSION_KEYS, "convert")  # its own earlier ones are replaced
    model = load_source(source, targets, shapes)
    converted = convert_source(model, source, paths, ConvertOptions(out_dir, shapes, request.dataset, force=True,
                                                                      allow_pickle=options.allow_pickle))
    for result in converted:
        if result.layout:
            raise ConfigError(f"{result.path.name} takes its inputs {result.layout}: a sweep feeds every format the "
                              "source's layout of the same samples; measure it with `edgeprof deploy`")
    dataset, reference, compared = _source_reference(model, source, request, out_dir)
    made: list[Path] = []
    for result in converted:
        made += [result.path, *(v.path for v in quantize(result.path, chosen[result.format], out_dir, calibration))]
    swept = replace(settings, request=replace(request, dataset=dataset, input_shapes=()))
    return Sweep(plan_models(swept, made, reference), out_dir, notes, compared)


def _per_format(variants: list[str], targets: list[str], notes: list[str]) -> dict[str, list[str]]:
    """The variants made of each format: those it has (a note for each it has not); ConfigError for a variant no
    target format has."""
    from edgeprof.convert import ONNX_VARIANTS, TFLITE_VARIANTS

    supported = {"onnx": ONNX_VARIANTS, "tflite": TFLITE_VARIANTS}
    for variant in variants:
        lacking = [t.upper() for t in targets if variant not in supported[t]]
        if len(lacking) == len(targets):
            offered = sorted({v for t in targets for v in supported[t]})
            raise ConfigError(f"variant {variant!r} is not available for {' or '.join(lacking)} models (choose "
                              f"from {', '.join(offered)})")
        notes += [f"note: {variant} left out for {t}: no such {t} variant" for t in lacking]
    return {t: [v for v in variants if v in supported[t]] for t in targets}


def _source_reference(model: SourceModel, source: Source, request: Request,
                      out_dir: Path) -> tuple[Path, ReferenceOutputs, str]:
    """The dataset every model is compared on (--dataset, else SOURCE_SAMPLES seeded random samples written as
    <out>/<name>-samples.npz), the source's outputs on it (<out>/<name>-source-outputs.npz), and those in words."""
    from edgeprof.convert.converting import dataset_samples, random_samples, source_outputs
    from edgeprof.dataset.build import write_npz

    dataset = request.dataset
    if dataset is None:
        samples = random_samples(model.inputs, SOURCE_SAMPLES, request.seed)
        dataset = out_dir / f"{source.name}-samples.npz"
        keys = ["x"] if len(model.inputs) == 1 else [spec.name for spec in model.inputs]
        write_npz({dataset: dict(zip(keys, samples))})
        described = f"{len(samples[0])} seeded random samples ({printable(str(dataset))})"
    else:
        samples = dataset_samples(model.inputs, dataset)
        described = f"the {len(samples[0])} samples of {printable(str(dataset))}"
    outputs = out_dir / f"{source.name}-source-outputs.npz"
    write_npz({outputs: {REFERENCE_OUTPUTS_KEY: source_outputs(model, samples)}})
    return (dataset, ReferenceOutputs(outputs, sha256_file(outputs)),
            f"the {source.framework} source {printable(source.where)}: its outputs on {described}")
