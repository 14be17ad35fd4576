"""What `edgeprof convert` takes and makes: the kind of a source (by content or form, never by unpickling it), the
target formats, and the extra that brings each converter."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgeprof.artifacts import check_regular_file, detect_format, printable, sha256_file
from edgeprof.errors import ConfigError

TARGETS = ("onnx", "tflite")
# source kind -> its framework (whose outputs every conversion is checked against)
FRAMEWORKS = {"onnx": "onnx", "tflite": "tflite", "keras": "keras", "savedmodel": "keras",
              "torch-export": "torch", "torch-factory": "torch", "torch-pickle": "torch"}
# extra -> (modules it brings, what to install)
EXTRAS = {
    "torch": (("torch", "onnxscript", "litert_torch"),
              "pip install 'edgeprof[torch]' (torch, onnxscript, litert-torch)"),
    "tensorflow": (("tensorflow", "tf2onnx"), "pip install 'edgeprof[tensorflow]' (tensorflow-cpu, tf2onnx)"),
}
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Source:
    """A model to convert: its kind (a FRAMEWORKS key), where it is (a path, or `package.module:factory`), and the
    sha256 that identifies it (a folder's: of its files' names and hashes; a factory's: of its module's file)."""

    kind: str
    where: str
    sha256: str

    @property
    def framework(self) -> str:
        return FRAMEWORKS[self.kind]

    @property
    def name(self) -> str:
        """The stem the outputs are named by."""
        if self.kind == "torch-factory":
            return self.where.rpartition(":")[2]
        return Path(self.where).name if self.kind == "savedmodel" else Path(self.where).stem


def detect_source(text: str, *, allow_pickle: bool = False) -> Source:
    """The Source `text` names; ConfigError (one line) for anything convert does not take, and for a pickled .pt
    unless `allow_pickle` (loading one runs any code it holds)."""
    path = Path(text)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ConfigError(f"{printable(text)} is a folder but not a TensorFlow SavedModel (no saved_model.pb)")
        return Source("savedmodel", text, _folder_sha256(path))
    if not path.exists() and _FACTORY.match(text):
        module = text.partition(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin:
            raise ConfigError(f"{text}: no module '{module}' on the Python path (a factory is package.module:name)")
        return Source("torch-factory", text, sha256_file(Path(spec.origin)))
    check_regular_file(path, "source model")
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8)
    fmt = detect_format(head)
    if fmt is not None and suffix == f".{fmt}":
        return Source(fmt, text, sha256_file(path))
    if suffix == ".keras" and zipfile.is_zipfile(path):
        return Source("keras", text, sha256_file(path))
    if suffix == ".h5" and head.startswith(b"\x89HDF"):
        return Source("keras", text, sha256_file(path))
    if suffix == ".pt2" and zipfile.is_zipfile(path):
        return Source("torch-export", text, sha256_file(path))
    if suffix in (".pt", ".pth"):
        if not allow_pickle:
            raise ConfigError(f"{printable(text)} is a pickled PyTorch file: loading it runs any code it holds. Save "
                              "the model with torch.export.save (.pt2), name a package.module:factory, or pass "
                              "--allow-pickle if you trust the file")
        return Source("torch-pickle", text, sha256_file(path))
    raise ConfigError(f"{printable(text)}: not a model convert takes (ONNX, TFLite, .keras, .h5, a SavedModel "
                      "folder, a torch.export .pt2 or a package.module:factory)")


def _folder_sha256(folder: Path) -> str:
    """The sha256 of a folder: of each file's relative path and sha256, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def needed_extra(source: Source, targets: list[str]) -> str | None:
    """The extra whose converters this conversion needs (None: the runtimes edgeprof always has)."""
    if source.framework == "torch":
        return "torch"
    if source.framework == "keras" or (source.kind == "tflite" and "onnx" in targets):
        return "tensorflow"
    return None


def require(extra: str | None, doing: str) -> None:
    """ConfigError naming what to install when a module of the extra is missing (checked without importing it)."""
    if extra is None:
        return
    modules, install = EXTRAS[extra]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{doing} needs {', '.join(missing)}: {install}")


def parse_targets(text: str, option: str = "--to") -> list[str]:
    """'onnx,tflite' -> ['onnx', 'tflite']; ConfigError naming the option for an empty list or an unknown format."""
    targets = list(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    unknown = [t for t in targets if t not in TARGETS]
    if not targets or unknown:
        raise ConfigError(f"{option} {text!r}: name one or more of {', '.join(TARGETS)}")
    return targets
