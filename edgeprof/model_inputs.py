"""The per-model input options of `deploy` and `sweep`: `--input-shape` and `--input-range` entries
([MODEL:]NAME=VALUE) parsed, resolved to each model's own input names (TFLite's `serving_default_NAME:0` from NAME),
the value range each integer input is fed (given, else read from the model) and the inputs whose shape the model
leaves out; ConfigError, one line, before anything is uploaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeprof.agent.spec import integer_input, plain_name, resolve_name
from edgeprof.artifacts import ModelArtifact, TensorSpec
from edgeprof.errors import ConfigError
from edgeprof.result import model_names


@dataclass(frozen=True)
class InputEntry:
    """One --input-shape or --input-range as typed: the key (NAME or MODEL:NAME) and its parsed value."""

    option: str
    text: str
    key: str
    value: tuple[int, ...]


@dataclass(frozen=True)
class ModelInputs:
    """What one model's RunSpec gets: input name -> dims, integer input name -> inclusive [lo, hi], and the inputs
    whose shape the model does not declare (the agent feeds such an input a scalar, with a warning, unless
    `shapes` gives it one)."""

    shapes: dict[str, list[int]] = field(default_factory=dict)
    ranges: dict[str, list[int]] = field(default_factory=dict)
    undeclared_shapes: tuple[str, ...] = ()


def parse_input_shape(text: str) -> InputEntry:
    """[MODEL:]NAME=1x3x224x224 into an entry; ConfigError unless every dim is a positive integer."""
    key, sep, dims = text.rpartition("=")
    try:
        parsed = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
    except ValueError:
        parsed = ()
    if not sep or not key or not parsed or any(d <= 0 for d in parsed):
        raise ConfigError(f"--input-shape {text!r}: expected [MODEL:]NAME=DIMS such as input=1x3x224x224")
    return InputEntry("--input-shape", text, key, parsed)


def parse_input_range(text: str) -> InputEntry:
    """[MODEL:]NAME=LO:HI (inclusive integers, LO <= HI) into an entry; ConfigError otherwise."""
    key, sep, bounds = text.rpartition("=")
    low, colon, high = bounds.partition(":")
    try:
        parsed = (int(low), int(high)) if colon else ()
    except ValueError:
        parsed = ()
    if not sep or not key or not parsed or parsed[0] > parsed[1]:
        raise ConfigError(f"--input-range {text!r}: expected [MODEL:]NAME=LO:HI such as ids=0:999 (LO <= HI)")
    return InputEntry("--input-range", text, key, parsed)


def model_refs(artifact: ModelArtifact) -> list[str]:
    """The MODEL an entry may name: what --model accepts elsewhere (name, name-variant, file stem) and the file
    name, which tells an ONNX file from a TFLite one of the same stem."""
    return [*model_names(artifact.name, artifact.variant, str(artifact.path)), artifact.path.name]


def _resolve(entries: list[InputEntry], artifacts: list[ModelArtifact]) -> dict[int, dict[str, InputEntry]]:
    """Each model's entries by its input names (by position in `artifacts`): an unprefixed entry for every model
    that has the input, a prefixed one (applied last, so it wins) for those of the models it names that have it;
    ConfigError for an entry no model takes. A model whose inputs the host cannot read (no TFLite interpreter
    here) takes the name as given: the device resolves it."""
    refs = [model_refs(a) for a in artifacts]
    known = {ref for names in refs for ref in names}
    chosen: dict[int, dict[str, InputEntry]] = {i: {} for i in range(len(artifacts))}
    for entry in sorted(entries, key=lambda e: _split(e, known)[0] is not None):
        model, name = _split(entry, known)
        targets = [i for i in range(len(artifacts)) if model is None or model in refs[i]]
        applied = False
        for i in targets:
            inputs = [s.name for s in artifacts[i].inputs]
            found = resolve_name(name, inputs) if inputs else name
            if found is not None:
                chosen[i][found] = entry
                applied = True
        if not applied:
            listed = "; ".join(f"{artifacts[i].path.name}: {', '.join(s.name for s in artifacts[i].inputs)}"
                               for i in targets)
            raise ConfigError(f"{entry.option} {entry.text}: no{' such' if model else ''} model has one input "
                              f"named '{name}' ({listed})")
    return chosen


def _split(entry: InputEntry, known: set[str]) -> tuple[str | None, str]:
    """(MODEL, NAME) when the key starts with a model ref and a colon, else (None, the whole key)."""
    model, sep, name = entry.key.partition(":")
    return (model, name) if sep and model in known else (None, entry.key)


def dtype_limits(dtype: str) -> tuple[int, int] | None:
    """The values an integer dtype holds ('uint8': (0, 255)); None for any other dtype."""
    unsigned = dtype.startswith("uint")
    bits = dtype.removeprefix("u").removeprefix("int")
    if not dtype.startswith(("int", "uint")) or not bits.isdigit():
        return None
    return (0, 2 ** int(bits) - 1) if unsigned else (-(2 ** (int(bits) - 1)), 2 ** (int(bits) - 1) - 1)


def _range_for(artifact: ModelArtifact, spec: TensorSpec, given: InputEntry | None,
               timing: str, observed: list[int] | None = None) -> list[int] | None:
    """The range an integer input is fed: given (within the model's table), else the model's, else the values
    the --dataset holds for it (`observed`); ConfigError where random inputs need one and there is none."""
    if given is not None:
        if not integer_input(spec):
            raise ConfigError(f"--input-range {given.text}: {artifact.path.name}'s input '{spec.name}' takes "
                              f"{spec.dtype}{' (quantised)' if spec.quant else ''} values, not plain integers")
        low, high = given.value
        held = dtype_limits(str(spec.dtype))
        if held is not None and (low < held[0] or high > held[1]):
            raise ConfigError(f"--input-range {given.text}: {artifact.path.name}'s input '{spec.name}' is "
                              f"{spec.dtype}, which holds {held[0]}:{held[1]} (a value outside it would wrap)")
        if spec.range is not None and (low < spec.range[0] or high > spec.range[1]):
            raise ConfigError(f"--input-range {given.text}: {artifact.path.name}'s input '{spec.name}' indexes a "
                              f"table of {spec.range[1] + 1} rows, so its values run {spec.range[0]}:{spec.range[1]}")
        return [low, high]
    if spec.range is not None:
        return list(spec.range)
    if observed is not None and integer_input(spec):
        return list(observed)
    if timing == "random" and integer_input(spec):
        raise ConfigError(f"{artifact.path.name}: input '{spec.name}' takes {spec.dtype} values whose range edgeprof "
                          f"cannot read from the model: give it with --input-range {plain_name(spec.name)}=LO:HI")
    return None


def resolve_inputs(artifacts: list[ModelArtifact], shapes: list[InputEntry], ranges: list[InputEntry], *,
                   timing: str, observed: dict[str, dict[str, list[int]]] | None = None) -> dict[str, ModelInputs]:
    """Each model's shapes and ranges by file path (str), checked against its inputs: every entry names an input
    of some model, and every plain integer input has a range when the timed runs are fed random values (`observed`:
    by path, the lowest and highest value the dataset holds for each input); and the inputs it declares no shape
    for."""
    chosen_shapes, chosen_ranges = _resolve(shapes, artifacts), _resolve(ranges, artifacts)
    resolved: dict[str, ModelInputs] = {}
    for i, artifact in enumerate(artifacts):
        model_ranges = {}
        for spec in artifact.inputs:
            value_range = _range_for(artifact, spec, chosen_ranges[i].pop(spec.name, None), timing,
                                     (observed or {}).get(str(artifact.path), {}).get(spec.name))
            if value_range is not None:
                model_ranges[spec.name] = value_range
        model_ranges.update({name: list(entry.value) for name, entry in chosen_ranges[i].items()})  # unread inputs
        resolved[str(artifact.path)] = ModelInputs({name: list(e.value) for name, e in chosen_shapes[i].items()},
                                                   model_ranges,
                                                   tuple(s.name for s in artifact.inputs if not s.shape_declared))
    return resolved

