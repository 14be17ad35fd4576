"""ModelArtifact: a model file checked on the host — format by content, sha256, variant, input/output signature."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import mmap
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from edgeprof.agent.spec import FOLDER_FORMATS, folder_sha256, plain_file_name
from edgeprof.errors import ConfigError, one_line
from edgeprof.onnx_wire import WireError, WireTensor, external_locations, read_signature
from edgeprof.paths import cache_dir, write_whole

if TYPE_CHECKING:
    import numpy as np

DATA_SUFFIX = ".data"  # an external data file's blob on the device: blobs/<sha256>.data, beside the model's blob
VARIANTS = ("fp32", "fp16", "int8-dynamic", "int8-static", "int8-static-qop", "int8-weight-only", "int4", "q8_0",
            "q4_0", "q4_k_m")
MANIFEST = "manifest.json"
GENAI_CONFIG = "genai_config.json"  # what makes a folder an ONNX Runtime GenAI model
GENAI_TOKENIZER = "tokenizer_config.json"  # onnxruntime-genai reads it for every model
# A GGUF variant's reference for greedy-output agreement: the sibling one precision up, where its manifest has one
HIGHER_PRECISION = {"q4_0": "q8_0", "q4_k_m": "q8_0", "q8_0": "f16"}


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the host sees it (None for a dynamic dim): its (scale, zero point) when it is
    quantised, for an index input that feeds a Gather the inclusive range of indices the table has, and whether
    the model declares its shape at all (False: an ONNX tensor type without one; `shape` is then [], as for a
    scalar, though the tensor may have any rank)."""

    name: str
    shape: list[int | None]
    dtype: str
    quant: tuple[float, int] | None = None
    range: tuple[int, int] | None = None
    shape_declared: bool = True


@dataclass(frozen=True)
class DataFile:
    """An external data file an ONNX model names (the location the model gives, relative to its folder), or a file
    of a model folder (its name there): the file on the host, its sha256 and size."""

    location: str
    path: Path
    sha256: str
    size_bytes: int

    def describe(self) -> dict[str, Any]:
        """What a Result and a manifest record of it."""
        return {"location": self.location, "sha256": self.sha256, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class ModelArtifact:
    """One model file (or model folder), checked: what it is, what it takes, where it came from.

    An ONNX model with external data carries its `data_files`; `device_copy` is then the model as the device gets
    it, each data location renamed to that file's blob name (<sha256>.data), and `sha256` and `size_bytes` are
    those of the copy and the data together: the identity covers the weights. A model folder (spec.FOLDER_FORMATS)
    carries every file of it in `data_files`, and its identity is spec.folder_sha256 of them."""

    path: Path
    name: str
    variant: str
    format: str
    sha256: str
    size_bytes: int
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    data_files: tuple[DataFile, ...] = ()
    device_copy: Path | None = None

    @property
    def upload_path(self) -> Path:
        """The file that goes to the device as the model."""
        return self.device_copy or self.path

    @property
    def classes(self) -> int | None:
        """How many classes the first output scores (its values per sample), where every dim is known."""
        dims = self.outputs[0].shape[1:] if self.outputs else [None]
        return None if None in dims else int(math.prod(d for d in dims if d is not None))


@dataclass(frozen=True)
class ReferenceOutputs:
    """A source framework's outputs on the dataset's samples (an NPZ, spec.REFERENCE_OUTPUTS_KEY), computed on the
    host for a source no device runs (a PyTorch or Keras model): the reference of every model converted from it,
    sent beside the dataset like it and compared with on the device as a reference model's outputs would be."""

    path: Path
    sha256: str


Reference = ModelArtifact | ReferenceOutputs  # what a model is compared with on the device


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
        _check_declared_sizes(path)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = "it holds pickled objects" if "allow_pickle" in str(exc) else one_line(exc, 200)
        raise ConfigError(f"{what} {shown}: not a readable NPZ file ({reason})") from None
    except MemoryError:
        raise ConfigError(f"{what} {shown}: too large to load into this machine's memory") from None
    if not arrays:
        raise ConfigError(f"{what} {shown} holds no arrays")
    return arrays


def _check_declared_sizes(path: Path) -> None:
    """ValueError unless each .npy member's header declares as many bytes as the member holds: a header that
    declares a 512 TiB array in a small file would otherwise be allocated before numpy reads it."""
    import numpy as np

    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(member)
                if dtype.hasobject:
                    continue  # np.load refuses it: pickled objects
                declared = math.prod(shape) * dtype.itemsize
                if declared != info.file_size - member.tell():
                    raise ValueError(f"{info.filename} declares {'x'.join(map(str, shape)) or 'a scalar'} "
                                     f"{dtype} ({declared:,} bytes) but holds {info.file_size - member.tell():,}")


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_format(data: bytes) -> str | None:
    """'tflite' for the TFL3 flatbuffer identifier, 'gguf' for the GGUF magic, 'onnx' for something that starts like
    a ModelProto."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    if data[:4] == b"GGUF":
        return "gguf"
    if data[:1] == b"\x08":  # field 1 (ir_version), varint: every serialised ModelProto starts so
        return "onnx"
    return None


Signature = tuple[list[TensorSpec], list[TensorSpec]]


def _onnx_signature(path: Path, data: bytes | mmap.mmap) -> Signature:
    """Inputs and outputs, read from the wire format (onnx_wire: no `import onnx`); no quantisation parameters
    (a QDQ model keeps them in its nodes, not its inputs); the index range of an integer input that feeds a
    Gather (only those models load the graph with `onnx`)."""
    try:
        inputs, outputs = read_signature(data)
    except WireError as exc:
        raise ConfigError(f"{path}: truncated or corrupt ONNX model ({exc})") from None
    bounds = _gather_bounds(path) if any(_is_index(t.dtype) for t in inputs) else {}

    def spec(tensor: WireTensor) -> TensorSpec:
        if tensor.dtype is None:
            raise ConfigError(f"{path}: graph input or output '{tensor.name}' is not a tensor of a type edgeprof "
                              "knows")
        rows = bounds.get(tensor.name)
        return TensorSpec(tensor.name, tensor.shape, tensor.dtype, range=(0, rows - 1) if rows else None,
                          shape_declared=tensor.shape_declared)

    return [spec(t) for t in inputs], [spec(t) for t in outputs]


def _is_index(dtype: str | None) -> bool:
    """Whether an input of this dtype can index a table (a signed or unsigned integer, not a bool)."""
    return dtype is not None and dtype.startswith(("int", "uint"))


PASS_THROUGH = ("Cast", "Identity", "DequantizeLinear")  # ops that keep a tensor's shape and what it indexes


def _gather_bounds(path: Path) -> dict[str, int]:
    """Graph input name -> rows of the smallest table a Gather indexes with it: the table an initializer (or one
    cast or dequantised), the indices the input (or it cast). Parses the whole graph with `onnx`, so only models
    with an integer input pay for it."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import helper

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except (DecodeError, ValueError) as exc:  # inputs and outputs read, a node or initializer corrupt
        raise ConfigError(f"{path}: truncated or corrupt ONNX model ({one_line(exc, 200)})") from None
    initializers = {init.name: list(init.dims) for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}

    def source(name: str) -> str:
        while name in producers and producers[name].op_type in PASS_THROUGH:
            name = producers[name].input[0]
        return name

    bounds: dict[str, int] = {}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) != 2:
            continue
        dims, indices = initializers.get(source(node.input[0])), source(node.input[1])
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
        if dims and -len(dims) <= axis < len(dims) and dims[axis] > 0:
            bounds[indices] = min(bounds.get(indices, dims[axis]), dims[axis])
    return bounds


def _tflite_gather_bounds(path: Path) -> dict[str, int]:
    """Index input name -> rows of the smallest table a GATHER op indexes with it (read from the flatbuffer with
    the schema ai-edge-litert ships; empty without it)."""
    try:
        from ai_edge_litert import schema_py_generated as fb
    except ImportError:
        return {}
    model = fb.Model.GetRootAs(path.read_bytes(), 0)
    bounds: dict[str, int] = {}
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        inputs = {graph.Inputs(i) for i in range(graph.InputsLength())}
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = model.OperatorCodes(op.OpcodeIndex())
            if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != fb.BuiltinOperator.GATHER:
                continue
            params, indices = op.Inputs(0), op.Inputs(1)
            if indices not in inputs:
                continue
            axis = 0
            if op.BuiltinOptionsType() == fb.BuiltinOptions.GatherOptions:
                options = fb.GatherOptions()
                table = op.BuiltinOptions()
                options.Init(table.Bytes, table.Pos)
                axis = options.Axis()
            dims = list(graph.Tensors(params).ShapeAsNumpy())
            if -len(dims) <= axis < len(dims) and dims[axis] > 0:
                name = graph.Tensors(indices).Name().decode()
                bounds[name] = min(bounds.get(name, int(dims[axis])), int(dims[axis]))
    return bounds


def _tflite_signature(path: Path) -> Signature:
    """Inputs and outputs with the (scale, zero point) of each quantised one, as the interpreter reports them, and
    the index range of each input that feeds a GATHER."""
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the host can still deploy; the device checks the model
        return [], []
    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as exc:  # the interpreter raises ValueError/RuntimeError
        raise ConfigError(f"{path}: truncated or corrupt TFLite model ({one_line(exc, 200)})") from exc

    bounds = _tflite_gather_bounds(path)

    def spec(detail: dict[str, Any]) -> TensorSpec:
        dims = [int(d) if d >= 0 else None for d in detail.get("shape_signature", detail["shape"])]
        scale, zero = detail.get("quantization", (0.0, 0))
        rows = bounds.get(detail["name"])
        return TensorSpec(detail["name"], dims, np.dtype(detail["dtype"]).name,
                          (float(scale), int(zero)) if scale else None, (0, rows - 1) if rows else None)

    return [spec(d) for d in interpreter.get_input_details()], [spec(d) for d in interpreter.get_output_details()]


def read_manifest(manifest: Path) -> dict[str, Any]:
    """A manifest.json: {"models": [entry, ...]}; ConfigError, one line, for a file that is not UTF-8 JSON of that
    shape, or an entry whose `model` or `variant` is not a plain name (they name files: no folder, no `..`)."""
    shown = printable(str(manifest))
    check_regular_file(manifest, "manifest")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{shown}: not a valid edgeprof manifest ({one_line(exc, 200)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list) \
            or not all(isinstance(e, dict) for e in data.get("models", [])):
        raise ConfigError(f"{shown}: not a valid edgeprof manifest (expected {{\"models\": [{{...}}, ...]}})")
    for entry in data.get("models", []):
        for key in ("model", "variant"):
            if key in entry and not plain_file_name(entry[key]):
                raise ConfigError(f"{shown}: not a valid edgeprof manifest ({key} {entry[key]!r} is not a plain "
                                  "name: no folders, '..' or control characters)")
    return data


def find_manifest_entry(path: Path, sha256: str) -> tuple[Path, dict[str, Any]] | None:
    """The manifest entry for this file (manifest.json beside it or one level up), matched by sha256."""

    for directory in (path.parent, path.parent.parent):
        manifest = directory / MANIFEST
        if not manifest.exists():
            continue
        for entry in read_manifest(manifest).get("models", []):
            if entry.get("sha256") == sha256:
                return manifest, entry
    return None


def _name_and_variant(path: Path) -> tuple[str, str]:
    stem = printable(path.name if path.is_dir() else path.stem)
    for variant in sorted(VARIANTS, key=len, reverse=True):
        if stem.endswith("-" + variant):
            return stem[: -len(variant) - 1], variant
    return stem, "original"


def load_artifact(path: Path) -> ModelArtifact:
    """Check a model file (or ONNX Runtime GenAI folder) on the host before anything goes to a device; ConfigError
    naming the file if it is bad."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    check_regular_file(path, "model file")
    with path.open("rb") as fh:
        head = fh.read(8)
    fmt = detect_format(head)
    if fmt is None:
        raise ConfigError(f"{path}: not an ONNX, TFLite or GGUF model")
    if path.suffix.lower() != f".{fmt}":
        raise ConfigError(f"{path}: the file is {fmt.upper()} but its name ends in '{path.suffix}': "
                          f"rename it to .{fmt}")
    data_files: tuple[DataFile, ...] = ()
    device_copy = None
    size = path.stat().st_size
    if fmt == "onnx":  # one mapping of the file, read once for the signature, the data files and the hash
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            inputs, outputs = _onnx_signature(path, data)
            try:
                locations = external_locations(data)
            except WireError as exc:
                raise ConfigError(f"{path}: truncated or corrupt ONNX model ({exc})") from None
            digest = hashlib.sha256(data).hexdigest()
        if locations:
            data_files = _data_files(path, locations)
            device_copy, digest = _device_copy(path, data_files)
            size = device_copy.stat().st_size + sum(d.size_bytes for d in data_files)
    else:  # a GGUF language model takes text: no tensor signature
        inputs, outputs = _tflite_signature(path) if fmt == "tflite" else ([], [])
        digest = sha256_file(path)
    name, variant, entry = _identify(path, digest)
    return ModelArtifact(path, name, variant, fmt, digest, size, inputs, outputs, entry, data_files, device_copy)


def _identify(path: Path, digest: str) -> tuple[str, str, dict[str, Any] | None]:
    """A model's name, variant and manifest entry: the entry's when a manifest beside it records this sha256, else
    read off the file name (`<name>-<variant>`)."""
    name, variant = _name_and_variant(path)
    found = find_manifest_entry(path, digest)
    if not found:
        return name, variant, None
    entry = found[1]
    return entry.get("model", name), entry.get("variant", variant), entry


def _load_folder(path: Path) -> ModelArtifact:
    """An ONNX Runtime GenAI folder: every file at its top level (sub-folders are not sent) checked and hashed, and
    the files its genai_config.json names and its ONNX files' external data present, so that nothing is missing
    on the device; ConfigError, one line, otherwise."""
    shown = printable(str(path))
    if not (path / GENAI_CONFIG).exists():
        raise ConfigError(f"model file {shown} is a directory without {GENAI_CONFIG} (a model is an ONNX, TFLite or "
                          "GGUF file, or an ONNX Runtime GenAI model folder)")
    entries = sorted(entry for entry in path.iterdir() if not entry.is_dir())
    for entry in entries:
        check_regular_file(entry, f"model folder {shown}: file")
    names = {entry.name for entry in entries}
    for needed, why in [*((name, f"{GENAI_CONFIG} names it") for name in genai_files(path / GENAI_CONFIG)),
                        *_folder_external_data(path, entries),
                        (GENAI_TOKENIZER, "onnxruntime-genai reads the tokenizer from it")]:
        if needed not in names:
            raise ConfigError(f"model folder {shown} has no file {printable(needed)} ({why})")
    files = tuple(DataFile(entry.name, entry, sha256_file(entry), entry.stat().st_size) for entry in entries)
    digest = folder_sha256([(f.location, f.sha256) for f in files])
    name, variant, entry = _identify(path, digest)
    return ModelArtifact(path, name, variant, FOLDER_FORMATS[0], digest, sum(f.size_bytes for f in files),
                         manifest=entry, data_files=files)


def genai_files(config: Path) -> list[str]:
    """The files a genai_config.json names (each `filename` under `model`: the decoder, and the embedding, vision
    or speech parts where it has them); ConfigError for a config that is not one or names a file outside its
    folder."""
    shown = printable(str(config))
    try:
        model = json.loads(config.read_text(encoding="utf-8"))["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{shown}: not an ONNX Runtime GenAI config ({one_line(exc, 200)})") from None
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "filename" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(model)
    outside = [name for name in found if not plain_file_name(name)]
    if not isinstance(model, dict) or outside or not found:
        reason = f"names {outside[0]!r}, outside its folder" if outside else "names no model file"
        raise ConfigError(f"{shown}: not an ONNX Runtime GenAI config ({reason})")
    return found


def _folder_external_data(path: Path, entries: list[Path]) -> list[tuple[str, str]]:
    """(file, why) for each external data file the folder's ONNX files name: they must lie in the folder itself."""
    needed = []
    for entry in entries:
        if entry.suffix.lower() != ".onnx":
            continue
        try:
            with entry.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                locations = external_locations(data)
        except (WireError, ValueError) as exc:  # mmap refuses an empty file with ValueError
            raise ConfigError(f"{printable(str(entry))}: truncated or corrupt ONNX model ({exc})") from None
        for tensor, location in sorted(locations.items()):
            if not plain_file_name(location):
                raise ConfigError(f"{printable(str(entry))}: initializer '{tensor}' keeps its data in {location!r}, "
                                  f"outside the model folder {printable(str(path))}")
            needed.append((location, f"{entry.name} keeps initializer '{tensor}' in it"))
    return needed


def _data_files(path: Path, locations: dict[str, str]) -> tuple[DataFile, ...]:
    """The external data files the model's initializers name, each checked and hashed; ConfigError (one line) for
    one that is missing or unreadable, or a location outside the model's folder (an absolute path or '..': it
    would send any file of this host to the device)."""
    files: dict[str, DataFile] = {}
    for tensor, location in locations.items():
        if location in files:
            continue
        relative = PurePosixPath(location.replace("\\", "/"))
        if not location or relative.is_absolute() or ".." in relative.parts:
            raise ConfigError(f"{printable(str(path))}: initializer '{tensor}' keeps its data in {location!r}, "
                              "outside the model's folder (external data must lie beside the model or below it)")
        data = path.parent / relative
        check_regular_file(data, f"{printable(path.name)}'s external data file (initializer '{tensor}')")
        files[location] = DataFile(location, data, sha256_file(data), data.stat().st_size)
    return tuple(sorted(files.values(), key=lambda d: d.location))


def _device_copy(path: Path, data_files: tuple[DataFile, ...]) -> tuple[Path, str]:
    """The model as the device gets it, with its sha256: each external data location renamed to the blob name of
    that file (<sha256>.data, which lies beside the model's blob on the device), so the copy's hash covers the data
    too. Written once into the cache (<cache>/external/<sha256>.onnx); only the graph is read, not the weights."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = {d.location: f"{d.sha256}{DATA_SUFFIX}" for d in data_files}
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value in names:
                entry.value = names[entry.value]
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    target = cache_dir() / "external" / f"{digest}.onnx"
    if not target.is_file():
        write_whole(target, data)
    return target, digest


def reference_for(artifact: ModelArtifact) -> Path | None:
    """The model a variant is compared with, if it is on disk: a GGUF variant's higher-precision sibling in its
    manifest (`HIGHER_PRECISION`), else the source it was made from (via its manifest entry)."""
    return _sibling(artifact) or _source(artifact)


def _sibling(artifact: ModelArtifact) -> Path | None:
    """The GGUF variant of the same model one precision up (HIGHER_PRECISION) that the manifest holding this
    variant's entry records, where that file is on disk as recorded."""
    wanted = HIGHER_PRECISION.get(artifact.variant) if artifact.format == "gguf" else None
    found = find_manifest_entry(artifact.path, artifact.sha256) if wanted else None
    if found is None:
        return None
    manifest, entry = found
    for other in read_manifest(manifest).get("models", []):
        if other.get("variant") != wanted or other.get("model") != entry.get("model") or not other.get("path"):
            continue
        candidate = (manifest.parent / str(other["path"])).resolve()
        if candidate.suffix == ".gguf" and candidate.is_file() and identity(candidate) == other.get("sha256"):
            return candidate
    return None


def _source(artifact: ModelArtifact) -> Path | None:
    """The source a variant was made from (via its manifest entry), if it is on disk."""
    if not artifact.manifest or not artifact.manifest.get("source_sha256"):
        return None
    source = artifact.manifest["source_sha256"]
    relative = artifact.manifest.get("source_path")
    if source == artifact.sha256 or not relative:
        return None
    for directory in (artifact.path.parent, artifact.path.parent.parent):
        candidate = (directory / relative).resolve()
        if (directory / MANIFEST).is_file() and candidate.exists() and identity(candidate) == source:
            return candidate
    return None


def identity(path: Path) -> str | None:
    """The sha256 load_artifact gives a model file or folder, the one a manifest records (None for a path that is
    not a model it takes)."""
    try:
        return load_artifact(path).sha256
    except ConfigError:
        return None


def check_dataset(artifact: ModelArtifact, npz: Path, *, ranges: dict[str, list[int]] | None = None,
                  allow_nan: bool = False) -> None:
    """The NPZ is data the model can take, each problem one ConfigError naming the file, the key and the first bad
    sample: one array per model input (by name, plain name, or `x`) with matching trailing dims, whole fixed
    batches and one count of samples; a
    dtype the agent casts without loss (docs/agent-protocol.md, `dataset`); no NaN or inf unless `allow_nan`;
    integer inputs within `ranges`; labels `y` that are integral class indices within the model's classes."""
    import numpy as np

    from edgeprof.agent.inputs import dataset_key

    shown = printable(str(npz))
    if not artifact.inputs:
        raise ConfigError(f"dataset {shown}: model {printable(artifact.path.name)} has no inputs, so there is nothing "
                          "to feed it (measure it without --dataset)")
    arrays = read_npz(npz, "dataset")
    empty = sorted(key for key, array in arrays.items() if array.shape and array.shape[0] == 0)
    if empty:
        raise ConfigError(f"dataset {shown}: '{empty[0]}' holds 0 samples (each array needs at least "
                          "one along its first axis)")
    counts = set()
    for spec in artifact.inputs:
        key = dataset_key(spec.name, list(arrays), len(artifact.inputs))
        if key is None:
            raise ConfigError(f"{npz}: no array for model input '{spec.name}' (keys: {', '.join(sorted(arrays))})")
        array = arrays[key]
        model_dims = spec.shape[1:]
        if len(array.shape) != len(spec.shape) or any(m is not None and m != d
                                                      for m, d in zip(model_dims, array.shape[1:])):
            raise ConfigError(f"{npz}: '{key}' has shape {list(array.shape)}, the model's input '{spec.name}' is "
                              f"{['?' if d is None else d for d in spec.shape]}")
        fixed = spec.shape[0] if spec.shape else None
        if fixed and fixed > 1 and array.shape[0] % fixed:
            raise ConfigError(f"dataset {shown}: '{key}' has {array.shape[0]} samples, which do not split into the "
                              f"model's fixed batch of {fixed}")
        problem = _dtype_problem(spec, array)
        if problem:
            raise ConfigError(f"dataset {shown}: '{key}' {problem}")
        if array.dtype.kind == "f" and not allow_nan:
            bad = _first(~np.isfinite(array))
            if bad is not None:
                kind = "NaN" if np.isnan(array[bad]) else "inf"
                raise ConfigError(f"dataset {shown}: '{key}' holds {kind} at sample {bad[0] if bad else 0} "
                                  "(pass --allow-nan to measure such inputs)")
        value_range = (ranges or {}).get(spec.name)
        if value_range is not None and array.dtype.kind in "iub":
            bad = _first((array < value_range[0]) | (array > value_range[1]))
            if bad is not None:
                raise ConfigError(f"dataset {shown}: '{key}' holds {array[bad]} at sample {bad[0] if bad else 0}, "
                                  f"outside input '{spec.name}''s range {value_range[0]}:{value_range[1]}")
        counts.add(array.shape[0] if array.shape else 1)
    if "y" in arrays:
        _check_labels(arrays["y"], shown, artifact.classes, counts)


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first True in `mask`, or None."""
    import numpy as np

    found = np.argwhere(mask)
    return tuple(int(i) for i in found[0]) if len(found) else None


def _dtype_problem(spec: TensorSpec, array: np.ndarray) -> str | None:
    """Why the agent cannot feed this array to the input without losing values (None: it can). Floats take any
    float or integer data; a quantised input also takes float data (quantised with its scale and zero point);
    plain integer inputs take integers that fit their dtype; bool inputs take bools."""
    import numpy as np

    try:
        wanted = np.dtype(spec.dtype)
    except TypeError:
        return (f"cannot feed the model's input '{spec.name}': its type {spec.dtype} has no numpy dtype (measure it "
                "without --dataset)")
    kind = array.dtype.kind
    if wanted.kind in "OSU":
        return None if kind in "SU" else f"has dtype {array.dtype}, the model's input '{spec.name}' takes strings"
    if wanted.kind == "f":
        return None if kind in "fiu" else f"has dtype {array.dtype}, the model wants {spec.dtype}"
    if wanted.kind == "b":
        return None if kind == "b" else f"has dtype {array.dtype}, the model's input '{spec.name}' takes bool"
    if spec.quant is not None and kind == "f":
        return None
    if kind not in "iub":
        return (f"has dtype {array.dtype}, the model's input '{spec.name}' takes {spec.dtype}"
                + (" (give integers, or floats for a quantised input)" if kind == "f" else ""))
    limits = np.iinfo(wanted)
    bad = _first((array < limits.min) | (array > limits.max)) if array.size else None
    if bad is not None:
        return (f"holds {array[bad]} at sample {bad[0] if bad else 0}, which {spec.dtype} (the model's input "
                f"'{spec.name}') cannot hold")
    return None


def _check_labels(labels: np.ndarray, shown: str, classes: int | None, counts: set[int]) -> None:
    """Labels are integral class indices, 0 up to the model's classes, one per sample."""
    import numpy as np

    if counts and (labels.shape[:1] or (1,))[0] not in counts:
        raise ConfigError(f"dataset {shown}: 'y' has {labels.shape[0] if labels.shape else 1} labels but the inputs "
                          f"have {sorted(counts)} samples")
    if labels.dtype.kind not in "fiub":
        raise ConfigError(f"dataset {shown}: 'y' has dtype {labels.dtype}: labels are integer class indices")
    if labels.dtype.kind == "f":
        bad = _first(labels != np.round(labels))
        if bad is not None:
            raise ConfigError(f"dataset {shown}: 'y' holds {labels[bad]} at sample {bad[0] if bad else 0}: labels "
                              "are integer class indices")
    bad = _first(labels < 0)
    if bad is not None:
        raise ConfigError(f"dataset {shown}: 'y' holds {labels[bad]} at sample {bad[0] if bad else 0}: labels are "
                          "class indices from 0")
    if classes is not None:
        bad = _first(labels >= classes)
        if bad is not None:
            raise ConfigError(f"dataset {shown}: 'y' holds {labels[bad]} at sample {bad[0] if bad else 0}, but the "
                              f"model scores {classes} classes (0 to {classes - 1})")
