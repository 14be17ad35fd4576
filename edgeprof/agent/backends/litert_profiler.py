"""Per-operator events from LiteRT's profiler, through the C API of the ai-edge-litert wheel's libLiteRt.so.

The Python `Interpreter` has no profiler, so this drives a compiled model through ctypes: environment -> model
from file -> options (CPU accelerator, `enable_profiling = true` in the runtime options, threads and kernel mode
in the CPU options) -> compiled model -> managed tensor buffers holding the feeds -> profiler start, runs, events.
The only module of the agent that knows the C API; it speaks the one of LiteRT 2.2 and newer (2.0 and 2.1 take
the model without an environment and the runtime options as a struct; 2.0 names the library
libLiteRtRuntimeCApi.so): an older or different library is `ProfileUnavailable` with the reason, never a call.
The calls run in a child Python (`python -c`, this module's `child_main`): a C API that differs from the one
written here would crash that process, and a crash there costs the op profile, never the run's measurements.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from typing import Any, Callable

import numpy as np

from .base import ProfileUnavailable

LIBRARY = "libLiteRt.so"  # 2.1 and newer (2.0.x: libLiteRtRuntimeCApi.so)
FIRST_KNOWN = (2, 2)  # the C API this module speaks: models made in an environment, TOML runtime options
SYMBOLS = ("LiteRtCompiledModelGetProfiler", "LiteRtStartProfiler", "LiteRtGetProfilerEvents")
CPU_ACCELERATOR = 1  # kLiteRtHwAcceleratorCpu
CPU_OPTIONS = b"xnnpack"  # the CPU accelerator's options (TOML), by its identifier
RUNTIME_OPTIONS = b"runtime_options_string"
LOCK_WRITE = 1  # kLiteRtTensorBufferLockModeWrite
MAX_RANK = 8  # LITERT_TENSOR_MAX_RANK
# ProfiledEventData.event_type values that time one operator.
OPERATOR = 1 << 1  # a built-in kernel; metadata1 is the TFLite node index, metadata2 its subgraph
DELEGATE_OPS = (1 << 2) | (1 << 3)  # an operator inside a delegate (XNNPACK's own); metadata1 its index there
DEFAULT = 1  # the interpreter's own events; its `Invoke` starts each run
CHILD = "import importlib, sys; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2]).child_main()"


class _MemoryUsage(ctypes.Structure):
    _fields_ = [("total_allocated_bytes", ctypes.c_size_t), ("in_use_allocated_bytes", ctypes.c_size_t),
                ("private_footprint_bytes", ctypes.c_size_t)]


class _Event(ctypes.Structure):  # ProfiledEventData
    _fields_ = [("tag", ctypes.c_char_p), ("event_type", ctypes.c_int), ("start_us", ctypes.c_uint64),
                ("elapsed_us", ctypes.c_uint64), ("begin_mem", _MemoryUsage), ("end_mem", _MemoryUsage),
                ("metadata1", ctypes.c_uint64), ("metadata2", ctypes.c_uint64), ("source", ctypes.c_int)]


class _Layout(ctypes.Structure):  # LiteRtLayout: rank (7 bits) and has_strides (1 bit) share one unsigned int
    _fields_ = [("rank_bits", ctypes.c_uint), ("dimensions", ctypes.c_int32 * MAX_RANK),
                ("strides", ctypes.c_uint32 * MAX_RANK)]


class _TensorType(ctypes.Structure):  # LiteRtRankedTensorType
    _fields_ = [("element_type", ctypes.c_int), ("layout", _Layout)]


_P = ctypes.c_void_p
_DESTRUCTOR = ctypes.CFUNCTYPE(None, _P)
_KEEP = _DESTRUCTOR(lambda _payload: None)  # the payloads are Python buffers this module keeps alive


@dataclass(frozen=True)
class OpEvent:
    """One operator's time, in one run or summed over runs: a built-in kernel (`node` its TFLite index, `partition`
    its subgraph) or a delegate's operator (`partition`: which delegated partition of a run, `node` its index
    inside it)."""

    tag: str
    delegated: bool
    node: int
    partition: int
    elapsed_us: float


def version_tuple(version: str) -> tuple[int, int]:
    """'2.3.0' -> (2, 3); (0, 0) for a version without a major.minor."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def library_path(package_dir: str, version: str) -> str:
    """The C API library of the ai-edge-litert wheel in `package_dir`, if it is one this module speaks."""
    if version_tuple(version) < FIRST_KNOWN:
        raise ProfileUnavailable(f"ai-edge-litert {version} predates the profiler C API edgeprof speaks (2.2 or "
                                 "newer; 2.0 and 2.1 differ in how models and options are made): "
                                 "pip install -U ai-edge-litert")
    path = os.path.join(package_dir, LIBRARY)
    if not os.path.isfile(path):
        raise ProfileUnavailable(f"ai-edge-litert {version} has no {LIBRARY}")
    return path


def _load(path: str) -> ctypes.CDLL:
    """The library, if it has the profiler."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise ProfileUnavailable(f"{LIBRARY} does not load: {exc}") from exc
    missing = [name for name in SYMBOLS if not hasattr(lib, name)]
    if missing:
        raise ProfileUnavailable(f"{LIBRARY} has no profiler ({', '.join(missing)} missing)")
    return lib


class _Session:
    """A compiled model with profiling on and its buffers filled, destroyed in reverse on `close`."""

    def __init__(self, lib: ctypes.CDLL, path: str, threads: int | None, builtin_only: bool) -> None:
        self._lib = lib
        self._undo: list[Callable[[], Any]] = []
        self._keep: list[Any] = []
        try:
            self._open(path, threads, builtin_only)
        except BaseException:
            self.close()
            raise

    def _call(self, name: str, *args: Any) -> None:
        status = getattr(self._lib, name)(*args)
        if status != 0:
            raise ProfileUnavailable(f"LiteRT's {name} failed (status {status})")

    def _made(self, name: str, destroy: str, *args: Any) -> ctypes.c_void_p:
        """Call a LiteRtCreate... function whose last argument receives the handle; destroy it on close."""
        handle = _P()
        self._call(name, *args, ctypes.byref(handle))
        self._undo.append(lambda: getattr(self._lib, destroy)(handle))
        return handle

    def _options(self, identifier: bytes, toml: str) -> None:
        payload = ctypes.create_string_buffer(toml.encode())
        self._keep.append(payload)
        opaque = _P()  # owned by the options once added
        self._call("LiteRtCreateOpaqueOptions", identifier, ctypes.cast(payload, _P), _KEEP, ctypes.byref(opaque))
        self._call("LiteRtAddOpaqueOptions", self._options_handle, opaque)

    def _open(self, path: str, threads: int | None, builtin_only: bool) -> None:
        self._env = self._made("LiteRtCreateEnvironment", "LiteRtDestroyEnvironment", 0, None)
        self._model = self._made("LiteRtCreateModelFromFile", "LiteRtDestroyModel", self._env, path.encode())
        self._options_handle = self._made("LiteRtCreateOptions", "LiteRtDestroyOptions")
        self._call("LiteRtSetOptionsHardwareAccelerators", self._options_handle, CPU_ACCELERATOR)
        self._options(RUNTIME_OPTIONS, "enable_profiling = true\n")
        cpu = (f"num_threads = {threads}\n" if threads else "") + ('kernel_mode = "builtin"\n' if builtin_only else "")
        if cpu:
            self._options(CPU_OPTIONS, cpu)
        self.compiled = self._made("LiteRtCreateCompiledModel", "LiteRtDestroyCompiledModel", self._env,
                                   self._model, self._options_handle)
        self._signature = _P()
        self._call("LiteRtGetModelSignature", self._model, ctypes.c_size_t(0), ctypes.byref(self._signature))

    def _count(self, name: str) -> int:
        count = ctypes.c_size_t()
        self._call(name, self._signature, ctypes.byref(count))
        return count.value

    def bind(self, feeds: dict[str, np.ndarray]) -> None:
        """Input buffers holding `feeds` (by tensor name, shapes resized to theirs) and output buffers to match."""
        inputs = []
        for i in range(self._count("LiteRtGetNumSignatureInputs")):
            tensor, kind = self._tensor("LiteRtGetSignatureInputTensorByIndex", i)
            name = ctypes.c_char_p()
            self._call("LiteRtGetTensorName", tensor, ctypes.byref(name))
            key = (name.value or b"").decode()
            if key not in feeds:
                raise ProfileUnavailable(f"the compiled model's input '{key}' is not one of the interpreter's")
            feed = np.ascontiguousarray(feeds[key])
            layout = kind.layout
            if list(layout.dimensions[:layout.rank_bits & 0x7F]) != list(feed.shape):
                dims = (ctypes.c_int * feed.ndim)(*feed.shape)
                self._call("LiteRtCompiledModelResizeInputTensor", self.compiled, ctypes.c_size_t(0),
                           ctypes.c_size_t(i), dims, ctypes.c_size_t(feed.ndim))
                for axis, size in enumerate(feed.shape):
                    layout.dimensions[axis] = size
            buffer = self._buffer("LiteRtGetCompiledModelInputBufferRequirements", i, kind)
            self._fill(buffer, feed)
            inputs.append(buffer)
        count = self._count("LiteRtGetNumSignatureOutputs")
        layouts = (_Layout * count)()
        self._call("LiteRtGetCompiledModelOutputTensorLayouts", self.compiled, ctypes.c_size_t(0),
                   ctypes.c_size_t(count), layouts, ctypes.c_bool(True))
        outputs = []
        for i in range(count):
            _tensor, kind = self._tensor("LiteRtGetSignatureOutputTensorByIndex", i)
            kind.layout = layouts[i]
            outputs.append(self._buffer("LiteRtGetCompiledModelOutputBufferRequirements", i, kind))
        self._inputs, self._outputs = (_P * len(inputs))(*inputs), (_P * len(outputs))(*outputs)

    def _tensor(self, getter: str, index: int) -> tuple[ctypes.c_void_p, _TensorType]:
        tensor, kind = _P(), _TensorType()
        self._call(getter, self._signature, ctypes.c_size_t(index), ctypes.byref(tensor))
        self._call("LiteRtGetRankedTensorType", tensor, ctypes.byref(kind))
        return tensor, kind

    def _buffer(self, requirements_of: str, index: int, kind: _TensorType) -> ctypes.c_void_p:
        requirements = _P()  # owned by the compiled model
        self._call(requirements_of, self.compiled, ctypes.c_size_t(0), ctypes.c_size_t(index),
                   ctypes.byref(requirements))
        self._keep.append(kind)
        return self._made("LiteRtCreateManagedTensorBufferFromRequirements", "LiteRtDestroyTensorBuffer",
                          self._env, ctypes.byref(kind), requirements)

    def _fill(self, buffer: ctypes.c_void_p, feed: np.ndarray) -> None:
        size, address = ctypes.c_size_t(), _P()
        self._call("LiteRtGetTensorBufferPackedSize", buffer, ctypes.byref(size))
        if size.value != feed.nbytes:
            raise ProfileUnavailable(f"LiteRT wants {size.value} bytes for an input of {feed.nbytes}")
        self._call("LiteRtLockTensorBuffer", buffer, ctypes.byref(address), LOCK_WRITE)
        try:
            ctypes.memmove(address, feed.ctypes.data, feed.nbytes)
        finally:
            self._call("LiteRtUnlockTensorBuffer", buffer)

    def run(self) -> None:
        self._call("LiteRtRunCompiledModel", self.compiled, ctypes.c_size_t(0), ctypes.c_size_t(len(self._inputs)),
                   self._inputs, ctypes.c_size_t(len(self._outputs)), self._outputs)

    def profile(self, seconds: float, max_runs: int) -> tuple[int, list[OpEvent]]:
        """One run to prepare what later runs reuse, then profiled runs for `seconds` (at least 3, at most
        `max_runs`): (runs, their operator events)."""
        self.run()
        profiler = _P()  # owned by the compiled model
        self._call("LiteRtCompiledModelGetProfiler", self.compiled, ctypes.byref(profiler))
        if not profiler.value:
            raise ProfileUnavailable("LiteRT gave the compiled model no profiler")
        self._call("LiteRtResetProfiler", profiler)
        self._call("LiteRtStartProfiler", profiler)
        deadline = time.perf_counter() + seconds
        runs = 0
        while runs < max_runs and (runs < 3 or time.perf_counter() < deadline):
            self.run()
            runs += 1
        self._call("LiteRtStopProfiler", profiler)
        count = ctypes.c_int()
        self._call("LiteRtGetNumProfilerEvents", profiler, ctypes.byref(count))
        events = (_Event * count.value)()
        self._call("LiteRtGetProfilerEvents", profiler, count, events)
        return runs, operator_events(events)

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()


def profile_events(library: str, path: str, threads: int | None, feeds: dict[str, np.ndarray], *,
                   builtin_only: bool, seconds: float, max_runs: int, timeout: float) -> tuple[int, list[OpEvent]]:
    """(runs, operator events summed over them) of a profiled compiled model run on `feeds` in a child Python; a
    crash or a hang there (`timeout` seconds) is `ProfileUnavailable`."""
    package = __name__.rsplit(".", 1)[0]
    root = os.path.abspath(__file__)
    for _ in range(__name__.count(".") + 1):  # up from this file to the directory (or zipapp) holding the package
        root = os.path.dirname(root)
    with tempfile.TemporaryDirectory(prefix="edgeprof-litert-") as tmp:
        names = {}
        for i, (name, array) in enumerate(feeds.items()):
            names[name] = os.path.join(tmp, f"{i}.npy")
            np.save(names[name], np.asarray(array), allow_pickle=False)
        request = {"library": library, "model": path, "threads": threads, "feeds": names, "builtin_only": builtin_only,
                   "seconds": seconds, "max_runs": max_runs}
        with open(os.path.join(tmp, "request.json"), "w") as fh:
            json.dump(request, fh)
        argv = [sys.executable, *(["-S"] if sys.flags.no_site else []), "-c", CHILD, root, f"{package}.litert_profiler"]
        try:
            proc = subprocess.run(argv, input=os.path.join(tmp, "request.json"), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ProfileUnavailable(f"LiteRT's profiler did not finish in {timeout:.0f} s") from exc
    if proc.returncode < 0:
        raise ProfileUnavailable(f"LiteRT's profiler crashed ({signal.Signals(-proc.returncode).name}) in its own "
                                 "process; the timed measurements are kept")
    lines = proc.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if proc.returncode == 0 and lines else {}
    if "unavailable" in answer or "events" not in answer:
        tail = " ".join((proc.stderr.strip().splitlines() or ["no output"])[-1:])
        raise ProfileUnavailable(answer.get("unavailable") or f"LiteRT's profiler failed: {tail[:300]}")
    return answer["runs"], [OpEvent(*event) for event in answer["events"]]


def child_main() -> None:
    """The child's side of `profile_events`: the request file's path on stdin; one JSON line on stdout, {runs,
    events} or {unavailable: reason}."""
    with open(sys.stdin.readline().strip()) as fh:
        request = json.load(fh)
    feeds = {name: np.load(file, allow_pickle=False) for name, file in request["feeds"].items()}
    try:
        session = _Session(_load(request["library"]), request["model"], request["threads"], request["builtin_only"])
        try:
            session.bind(feeds)
            runs, events = session.profile(request["seconds"], request["max_runs"])
        finally:
            session.close()
    except ProfileUnavailable as exc:
        print(json.dumps({"unavailable": str(exc)}))
        return
    summed: dict[tuple[str, bool, int, int], float] = {}
    for event in events:
        key = (event.tag, event.delegated, event.node, event.partition)
        summed[key] = summed.get(key, 0.0) + event.elapsed_us
    print(json.dumps({"runs": runs, "events": [astuple(OpEvent(*key, us)) for key, us in summed.items()]}))


def operator_events(events: Any) -> list[OpEvent]:
    """The operator events, each delegate operator tagged with its partition: partitions are counted from each
    run's `Invoke`, and one starts where a delegate's operator indices start again or a built-in kernel ran."""
    found: list[OpEvent] = []
    partition, last = -1, None  # last: the previous delegate operator's index, None after anything else
    for event in events:
        tag = (event.tag or b"").decode(errors="replace")
        if event.event_type == DEFAULT and tag == "Invoke":
            partition, last = -1, None
        elif event.event_type == OPERATOR:
            found.append(OpEvent(tag, False, int(event.metadata1), int(event.metadata2), float(event.elapsed_us)))
            last = None
        elif event.event_type & DELEGATE_OPS:
            index = int(event.metadata1)
            if last is None or index <= last:
                partition += 1
            found.append(OpEvent(tag, True, index, partition, float(event.elapsed_us)))
            last = index
    return found
