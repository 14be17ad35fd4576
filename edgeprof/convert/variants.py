"""What every variant maker shares: the VariantResult (a manifest entry), calibration data, tool versions,
quiet third-party converters, where a variant is written, and how one written in a staging folder is moved into
place."""

from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, TypeVar

import numpy as np

from edgeprof.agent.spec import FOLDER_FORMATS, plain_file_name
from edgeprof.artifacts import DATA_SUFFIX, ModelArtifact, load_artifact, printable, read_npz, sha256_file
from edgeprof.errors import EXIT_CONSTRAINT_FAILED, ConfigError, EdgeprofError, one_line


@dataclass(frozen=True)
class VariantResult:
    """One variant written to disk, with what made it (the manifest entry)."""

    path: Path
    model: str
    variant: str
    format: str
    sha256: str
    size_bytes: int
    source_sha256: str
    source_path: str
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    external_data: list[dict[str, Any]] = field(default_factory=list)  # DataFile.describe() of each, ONNX only
    files: list[dict[str, Any]] = field(default_factory=list)  # a model folder's, each as DataFile.describe()

    def manifest_entry(self, base: Path) -> dict[str, Any]:
        """The entry as stored in manifest.json (paths relative to the manifest's folder)."""
        entry = asdict(self)
        for key in ("external_data", "files"):
            if not entry[key]:
                del entry[key]
        entry["path"] = self.path.resolve().relative_to(base.resolve()).as_posix()
        entry["source_path"] = os.path.relpath(Path(self.source_path).resolve(), base.resolve())
        return entry


class VariantFailed(EdgeprofError):
    """A variant was written but does not load or run in its runtime (exit 1, like a failed constraint)."""

    exit_code = EXIT_CONSTRAINT_FAILED


@contextmanager
def _native_output_discarded() -> Iterator[None]:
    """File descriptors 1 and 2 point at /dev/null for the block: what native code prints (LiteRT's 'Created
    TensorFlow Lite XNNPACK delegate', progress bars) never reaches the CLI's stdout or stderr."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


@contextmanager
def quiet_converter() -> Iterator[None]:
    """Keep the converters' advice off the CLI: root-logger warnings ('consider pre-processing', 'overwriting'),
    UserWarnings (LiteRT's 'preserve all tensors' during calibration) and native output on fds 1 and 2.
    Failures still raise."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _native_output_discarded():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        root.setLevel(level)


def check_variant_runs(result: VariantResult) -> None:
    """Load the variant in its runtime (the agent's backends, as a device would) and run it once on seeded
    inputs (integer inputs 0, an index any table has); VariantFailed naming it, with the file removed, when either
    fails."""
    from edgeprof.agent.backends import open_runtime
    from edgeprof.agent.inputs import make_feeds
    from edgeprof.agent.spec import AgentFailure, ErrorKind, integer_input

    try:
        with quiet_converter():
            runtime = open_runtime(str(result.path), result.format, 1)
            zeros = {info.name: [0, 0] for info in runtime.inputs if integer_input(info)}  # in bounds of any table
            feeds, _ = make_feeds(runtime.inputs, {}, 0, lambda _note: None, zeros)
            runtime.run(feeds)
    except AgentFailure as exc:
        if exc.kind == ErrorKind.RUNTIME_MISSING:  # no runtime on this host: the device checks the model
            return
        failure: Exception = exc
    except Exception as exc:  # whatever the runtime raises when it runs
        failure = exc
    else:
        return
    remove_model(result.path, result.external_data)
    reason = one_line(failure)
    raise VariantFailed(f"the {result.variant} variant of {result.model} does not load or run, so it was "
                        f"removed and not recorded ({reason})") from failure


def tool_versions(*dists: str) -> dict[str, str]:
    """Versions of the tools that made a file (absent ones are left out)."""
    found = {"python": platform.python_version()}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def load_calibration(path: Path | None, variant: str) -> dict[str, np.ndarray]:
    """The calibration NPZ's arrays (one per input, or `x`); ConfigError when static int8 has none."""
    if path is None:
        raise ConfigError(f"variant {variant} needs calibration data: pass --calibration NPZ "
                          "(one array per model input, or x)")
    return {key: array for key, array in read_npz(path, "calibration file").items() if key != "y"}


def remove_model(path: Path, external_data: list[dict[str, Any]]) -> None:
    """Delete a model file (or model folder) just written and the external data files it names."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
        return
    path.unlink(missing_ok=True)
    for data in external_data:
        (path.parent / data["location"]).unlink(missing_ok=True)


Placed = TypeVar("Placed", bound=VariantResult)


def place(result: Placed, out_dir: Path) -> Placed:
    """A model written into a staging folder (inside out_dir, so on its file system) moved into out_dir by renames:
    its external data files first, the model last, so that no model is in place without its data (the weights file
    of a model it replaces, `<name>.data`, removed when it writes none there); the result at its new path."""
    for data in result.external_data:
        moved = out_dir / data["location"]
        moved.parent.mkdir(parents=True, exist_ok=True)
        (result.path.parent / data["location"]).replace(moved)
    target = out_dir / result.path.name
    if result.path.is_dir():  # a model folder replaces the one it overwrites (--force) whole
        remove_model(target, [])
    elif f"{target.name}{DATA_SUFFIX}" not in {data["location"] for data in result.external_data}:
        target.with_name(f"{target.name}{DATA_SUFFIX}").unlink(missing_ok=True)  # the replaced model's weights
    result.path.replace(target)
    return replace(result, path=target)


@contextmanager
def stops_held() -> Iterator[None]:
    """SIGINT and SIGTERM held while the block runs (it moves finished models into place and records them: renames
    and one small JSON file, never cut in half), then delivered to the handlers they would have met. Outside the
    main thread, which never gets a signal's handler, the block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {stop: signal.signal(stop, lambda signum, _frame: held.append(signum))
                for stop in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, signal.SIG_DFL if handler is None else handler)
        if held:
            signal.raise_signal(held[0])


def external_data_location(target: Path, source: ModelArtifact) -> str | None:
    """Where a variant of `source` written to `target` keeps its weights: beside it in <file>.data when the source
    keeps its own in external data (a model over protobuf's 2 GB must), else None (inside the model file)."""
    return f"{target.name}{DATA_SUFFIX}" if source.data_files else None


def describe(path: Path, source: ModelArtifact, variant: str, method: str, parameters: dict[str, Any],
             tools: dict[str, str]) -> VariantResult:
    """A VariantResult for a variant of `source` just written to `path` (an ONNX one identified with its external
    data, a model folder with its files, as load_artifact does)."""
    if path.suffix == ".onnx" or path.is_dir():
        made = load_artifact(path)
        fmt, sha256, size, data = made.format, made.sha256, made.size_bytes, [d.describe() for d in made.data_files]
    else:
        fmt, sha256, size, data = path.suffix[1:], sha256_file(path), path.stat().st_size, []
    folder = fmt in FOLDER_FORMATS
    return VariantResult(path, source.name, variant, fmt, sha256, size, source.sha256, str(source.path), method,
                         parameters, tools, [] if folder else data, data if folder else [])


def variant_path(source: ModelArtifact, variant: str, out_dir: Path) -> Path:
    """Where a variant goes: <out>/<name>-<variant>.<format> (a model folder: <out>/<name>-<variant>), always
    inside out_dir (ConfigError for a name that would lead out of it)."""
    name = f"{source.name}-{variant}" + ("" if source.format in FOLDER_FORMATS else f".{source.format}")
    if not plain_file_name(name):
        raise ConfigError(f"{printable(str(source.path))}: model name {source.name!r} cannot name a file in "
                          f"{printable(str(out_dir))} (no folders, '..' or control characters)")
    return out_dir / name
