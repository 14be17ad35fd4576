"""ModelArtifact: a model file checked on the host — format by content, sha256, variant, input/output signature."""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeprof.errors import ConfigError, one_line
from edgeprof.onnx_wire import WireError, WireTensor, read_signature

if TYPE_CHECKING:
    import numpy as np

VARIANTS = ("fp32", "fp16", "int8-dynamic", "int8-static", "int8-static-qop", "int8-weight-only")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the host sees it (None for a dynamic dim)."""

    name: str
    shape: list[int | None]
    dtype: str


@dataclass(frozen=True)
class ModelArtifact:
    """One model file, checked: what it is, what it takes, where it came from."""

    path: Path
    name: str
    variant: str
    format: str
    sha256: str
    size_bytes: int
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    quant: dict[str, tuple[float, int]] = field(default_factory=dict)  # tensor name -> (scale, zero point)


def printable(text: str) -> str:
    """Text every output and the store can take: the undecodable bytes of a file name (surrogate escapes, as
    os.fsdecode gives them) become backslash escapes such as \\xff; other text is unchanged."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_regular_file(path: Path, what: str) -> None:
    """ConfigError naming `what` and the path unless it is a regular file (or a link to one) that can be read:
    missing, a directory, a FIFO or device, a symlink loop each get their own words. Opens nothing, so a FIFO
    never blocks."""
    shown = printable(str(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} {shown} does not exist") from None
    except OSError as exc:
        reason = "is a symbolic link loop" if exc.errno == errno.ELOOP else f"cannot be read ({exc.strerror})"
        raise ConfigError(f"{what} {shown} {reason}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what} {shown} is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise ConfigError(f"{what} {shown} is {kind}, not a regular file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{what} {shown} cannot be read (permission denied)")


def read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of an NPZ file (`what` names it in errors: 'dataset', 'calibration file'); ConfigError, one line,
    for a missing or non-regular file, something that is not a zip of .npy arrays, or one holding none."""
    import numpy as np

    check_regular_file(path, what)
    shown = printable(str(path))
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{what} {shown} is not an NPZ file (expected a zip of .npy arrays, as numpy.savez "
                          "writes)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = "it holds pickled objects" if "allow_pickle" in str(exc) else one_line(exc, 200)
        raise ConfigError(f"{what} {shown}: not a readable NPZ file ({reason})") from None
    if not arrays:
        raise ConfigError(f"{what} {shown} holds no arrays")
    return arrays


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_format(data: bytes) -> str | None:
    """'tflite' for the TFL3 flatbuffer identifier, 'onnx' for something that starts like a ModelProto."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    if data[:1] == b"\x08":  # field 1 (ir_version), varint: every serialised ModelProto starts so
        return "onnx"
    return None


Signature = tuple[list[TensorSpec], list[TensorSpec], dict[str, tuple[float, int]]]


def _onnx_signature(path: Path, data: bytes | mmap.mmap) -> Signature:
    """Inputs and outputs, read from the wire format (onnx_wire: no `import onnx`); no quantisation parameters
    (a QDQ model keeps them in its nodes, not its inputs)."""
    try:
        inputs, outputs = read_signature(data)
    except WireError as exc:
        raise ConfigError(f"{path}: truncated or corrupt ONNX model ({exc})") from None

    def spec(tensor: WireTensor) -> TensorSpec:
        if tensor.dtype is None:
            raise ConfigError(f"{path}: graph input or output '{tensor.name}' is not a tensor of a type edgeprof "
                              "knows")
        return TensorSpec(tensor.name, tensor.shape, tensor.dtype)

    return [spec(t) for t in inputs], [spec(t) for t in outputs], {}


def _tflite_signature(path: Path) -> Signature:
    """Inputs, outputs and the (scale, zero point) of each quantised one, as the interpreter reports them."""
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the host can still deploy; the device checks the model
        return [], [], {}
    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as exc:  # the interpreter raises ValueError/RuntimeError
        raise ConfigError(f"{path}: truncated or corrupt TFLite model ({one_line(exc, 200)})") from exc

    def spec(detail: dict[str, Any]) -> TensorSpec:
        dims = [int(d) if d >= 0 else None for d in detail.get("shape_signature", detail["shape"])]
        return TensorSpec(detail["name"], dims, np.dtype(detail["dtype"]).name)

    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    quant = {d["name"]: (float(d["quantization"][0]), int(d["quantization"][1])) for d in inputs + outputs
             if d.get("quantization", (0.0, 0))[0]}
    return [spec(d) for d in inputs], [spec(d) for d in outputs], quant


def find_manifest_entry(path: Path, sha256: str) -> tuple[Path, dict[str, Any]] | None:
    """The manifest entry for this file (manifest.json beside it or one level up), matched by sha256."""

    for directory in (path.parent, path.parent.parent):
        manifest = directory / MANIFEST
        if not manifest.is_file():
            continue
        try:
            entries = json.loads(manifest.read_text()).get("models", [])
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ConfigError(f"{manifest}: not a valid edgeprof manifest ({exc})") from exc
        for entry in entries:
            if entry.get("sha256") == sha256:
                return manifest, entry
    return None


def _name_and_variant(path: Path) -> tuple[str, str]:
    stem = printable(path.stem)
    for variant in sorted(VARIANTS, key=len, reverse=True):
        if stem.endswith("-" + variant):
            return stem[: -len(variant) - 1], variant
    return stem, "original"


def load_artifact(path: Path) -> ModelArtifact:
    """Check a model file on the host before anything goes to a device; ConfigError naming the file if it is bad."""
    path = Path(path)
    check_regular_file(path, "model file")
    with path.open("rb") as fh:
        head = fh.read(8)
    fmt = detect_format(head)
    if fmt is None:
        raise ConfigError(f"{path}: not an ONNX or TFLite model")
    if path.suffix.lower() != f".{fmt}":
        raise ConfigError(f"{path}: the file is {fmt.upper()} but its name ends in '{path.suffix}': "
                          f"rename it to .{fmt}")
    if fmt == "onnx":  # one mapping of the file, read once for both the signature and the hash
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            inputs, outputs, quant = _onnx_signature(path, data)
            digest = hashlib.sha256(data).hexdigest()
    else:
        inputs, outputs, quant = _tflite_signature(path)
        digest = sha256_file(path)
    found = find_manifest_entry(path, digest)
    name, variant = _name_and_variant(path)
    entry = None
    if found:
        entry = found[1]
        name, variant = entry.get("model", name), entry.get("variant", variant)
    return ModelArtifact(path, name, variant, fmt, digest, path.stat().st_size, inputs, outputs, entry, quant)


def reference_for(artifact: ModelArtifact) -> Path | None:
    """The fp32 source a variant was made from (via its manifest entry), if it is on disk."""
    if not artifact.manifest or not artifact.manifest.get("source_sha256"):
        return None
    source = artifact.manifest["source_sha256"]
    relative = artifact.manifest.get("source_path")
    if source == artifact.sha256 or not relative:
        return None
    for directory in (artifact.path.parent, artifact.path.parent.parent):
        candidate = (directory / relative).resolve()
        if (directory / MANIFEST).is_file() and candidate.is_file() and sha256_file(candidate) == source:
            return candidate
    return None


def check_dataset(artifact: ModelArtifact, npz: Path) -> None:
    """The NPZ has one array per model input (or `x`), with matching trailing dims; ConfigError naming the key."""
    import numpy as np

    shapes = {key: (array.shape, array.dtype) for key, array in read_npz(npz, "dataset").items()}
    empty = sorted(key for key, (shape, _) in shapes.items() if shape and shape[0] == 0)
    if empty:
        raise ConfigError(f"dataset {printable(str(npz))}: '{empty[0]}' holds 0 samples (each array needs at least "
                          "one along its first axis)")
    if not artifact.inputs:
        return
    counts = set()
    for spec in artifact.inputs:
        key = spec.name if spec.name in shapes else ("x" if len(artifact.inputs) == 1 and "x" in shapes else None)
        if key is None:
            raise ConfigError(f"{npz}: no array for model input '{spec.name}' (keys: {', '.join(sorted(shapes))})")
        shape, dtype = shapes[key]
        model_dims = spec.shape[1:]
        if len(shape) != len(spec.shape) or any(m is not None and m != d for m, d in zip(model_dims, shape[1:])):
            raise ConfigError(f"{npz}: '{key}' has shape {list(shape)}, the model's input '{spec.name}' is "
                              f"{['?' if d is None else d for d in spec.shape]}")
        if np.dtype(spec.dtype).kind == "f" and dtype.kind not in "fiu":
            raise ConfigError(f"{npz}: '{key}' has dtype {dtype}, the model wants {spec.dtype}")
        counts.add(shape[0] if shape else 1)
    if "y" in shapes and (shapes["y"][0][:1] or (1,))[0] not in counts:
        raise ConfigError(f"{npz}: 'y' has {shapes['y'][0][0]} labels but the inputs have {sorted(counts)} samples")
