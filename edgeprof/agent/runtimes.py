"""Load a model in the runtime its format needs: ONNX Runtime, or the TFLite interpreter (LiteRT first)."""

from __future__ import annotations

import glob
import importlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .probes.system import TFLITE_MODULES, dist_version
from .protocol import AgentFailure


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: shape (None for a dynamic dim), numpy dtype name, (scale, zero point)."""

    name: str
    shape: list[int | None]
    dtype: str
    quant: tuple[float, int] | None = None


class Runtime:
    """A loaded model ready to run: what it takes, what it returns, and what ran it."""

    name: str
    version: str
    threads: dict[str, Any]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference."""
        raise NotImplementedError

    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        """Get ready for feeds of these shapes outside any timed call (TFLite resizes and reallocates)."""

    def op_profile(self) -> dict[str, Any] | None:
        """Per-operator times, where the runtime can tell (None otherwise)."""
        return None

    def describe(self) -> dict[str, Any]:
        """The `runtime` section of the Result."""
        return {"name": self.name, "version": self.version, "threads": self.threads}


def import_runtime(fmt: str) -> tuple[Any, str]:
    """Import the runtime for a format (kept apart from load time): (module, distribution name)."""
    if fmt == "onnx":
        try:
            return importlib.import_module("onnxruntime"), "onnxruntime"
        except ImportError as exc:
            raise AgentFailure("runtime_missing", "onnxruntime is not installed on the device "
                               "(pip install onnxruntime)", "load") from exc
    if fmt == "tflite":
        for module_name, dist in TFLITE_MODULES:
            try:
                return importlib.import_module(module_name), dist
            except ImportError:
                continue
        raise AgentFailure("runtime_missing", "no TFLite interpreter on the device "
                           "(pip install ai-edge-litert, or tflite-runtime on Python <= 3.11)", "load")
    raise AgentFailure("model_load", f"unknown model format {fmt!r}", "load")


def open_runtime(model_path: str, fmt: str, threads: int | None, *, op_profile: bool = False) -> Runtime:
    """Import the runtime and load the model; AgentFailure on a missing runtime or a bad model.

    `op_profile` turns on ONNX Runtime's per-node profiler, which slows every call several times over:
    never time a profiled session (see `profile_ops`).
    """
    module, dist = import_runtime(fmt)
    if fmt == "onnx":
        return OrtRuntime(module, model_path, threads, op_profile)
    return TfliteRuntime(module, dist, model_path, threads)


def profile_ops(model_path: str, fmt: str, threads: int | None, feeds: dict[str, np.ndarray],
                seconds: float = 1.0, max_runs: int = 200) -> dict[str, Any] | None:
    """Per-operator times from a separate profiled session (its own runs, never the timed ones).

    None for formats whose runtime has no per-operator profiler (TFLite's Python interpreters).
    """
    if fmt != "onnx":
        return None
    runtime = open_runtime(model_path, fmt, threads, op_profile=True)
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < max_runs and (runs < 3 or time.perf_counter() < deadline):
        runtime.run(feeds)
        runs += 1
    profile = runtime.op_profile()
    if profile is not None:
        profile["note"] = "from a separate profiled session: the profiler slows every call, so read the shares"
    return profile


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:400] or type(exc).__name__


class OrtRuntime(Runtime):
    """ONNX Runtime on the CPU."""

    _DTYPES = {
        "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
        "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(int32)": "int32",
        "tensor(int64)": "int64", "tensor(bool)": "bool",
    }

    def __init__(self, ort: Any, path: str, threads: int | None, op_profile: bool) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.threads: dict[str, Any] = {"intra_op": threads or "default", "inter_op": 1}
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
            # Spinning workers steal the CPU from each other on small, busy boards: measured 2x slower.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.threads["spinning"] = False
        else:
            self.threads["spinning"] = True  # ONNX Runtime's default when the spec leaves threads to it
        if op_profile:
            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"edgeprof-ort-profile-{os.getpid()}")
        try:
            self._session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own pybind exception types
            raise AgentFailure("model_load", f"onnxruntime cannot load the model: {_one_line(exc)}", "load") from exc
        self.name = "onnxruntime"
        self.version = ort.__version__
        self.inputs = [self._info(i) for i in self._session.get_inputs()]
        self.outputs = [self._info(o) for o in self._session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]
        self._profiling = op_profile

    def _info(self, arg: Any) -> TensorInfo:
        shape = [d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or [])]
        dtype = self._DTYPES.get(arg.type)
        if dtype is None:
            raise AgentFailure("model_load", f"tensor '{arg.name}' has unsupported type {arg.type}", "load")
        return TensorInfo(arg.name, shape, dtype)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(self._output_names, feeds)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self._session.get_providers()}

    def op_profile(self) -> dict[str, Any] | None:
        if not self._profiling:
            return None
        path = self._session.end_profiling()
        try:
            with open(path) as fh:
                events = json.load(fh)
        finally:
            for leftover in glob.glob(path):
                os.remove(leftover)
        return aggregate_ort_profile(events)


def aggregate_ort_profile(events: list[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """ORT profiling events into total time per op type and the slowest nodes."""
    by_type: dict[str, float] = {}
    by_node: dict[str, tuple[str, float]] = {}
    runs = 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs += 1
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        op = event.get("args", {}).get("op_name", "?")
        node = event["name"][: -len("_kernel_time")]
        us = float(event.get("dur", 0))
        by_type[op] = by_type.get(op, 0.0) + us
        by_node[node] = (op, by_node.get(node, (op, 0.0))[1] + us)
    total = sum(by_type.values()) or 1.0
    runs = max(runs, 1)
    return {
        "method": "sensor:onnxruntime-profiler",
        "runs": runs,
        "by_op_type": [
            {"op": op, "ms_per_run": us / runs / 1000, "share": us / total}
            for op, us in sorted(by_type.items(), key=lambda kv: -kv[1])
        ][:top],
        "by_node": [
            {"node": node, "op": op, "ms_per_run": us / runs / 1000, "share": us / total}
            for node, (op, us) in sorted(by_node.items(), key=lambda kv: -kv[1][1])
        ][:top],
    }


class TfliteRuntime(Runtime):
    """The TFLite interpreter: ai-edge-litert, else tflite-runtime, else TensorFlow's."""

    def __init__(self, module: Any, dist: str, path: str, threads: int | None) -> None:
        try:
            self._interp = module.Interpreter(model_path=path, num_threads=threads)
            self._interp.allocate_tensors()
        except Exception as exc:  # the interpreters raise ValueError/RuntimeError with the reason
            raise AgentFailure("model_load", f"{dist} cannot load the model: {_one_line(exc)}", "load") from exc
        self.name = dist
        self.version = dist_version(dist) or "unknown"
        self.threads = {"num_threads": threads or "default"}
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = [self._info(d) for d in self._in]
        self.outputs = [self._info(d) for d in self._out]
        self._feed_order = [(d["name"], int(d["index"])) for d in self._in]
        self._out_index = [int(d["index"]) for d in self._out]
        self._shapes = {int(d["index"]): tuple(int(x) for x in d["shape"]) for d in self._in}

    @staticmethod
    def _info(detail: dict[str, Any]) -> TensorInfo:
        signature = detail.get("shape_signature", detail["shape"])
        shape = [int(d) if d >= 0 else None for d in signature]
        scale, zero = detail.get("quantization", (0.0, 0))
        quant = (float(scale), int(zero)) if scale else None
        return TensorInfo(detail["name"], shape, np.dtype(detail["dtype"]).name, quant)

    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        """Resize the inputs whose shapes differ from the allocated ones, then reallocate once."""
        changed = [(index, feeds[name].shape) for name, index in self._feed_order
                   if feeds[name].shape != self._shapes[index]]
        for index, shape in changed:
            self._interp.resize_tensor_input(index, list(shape))
            self._shapes[index] = shape
        if changed:
            self._interp.allocate_tensors()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name, index in self._feed_order:
            if feeds[name].shape != self._shapes[index]:
                self.prepare(feeds)
                break
        for name, index in self._feed_order:
            self._interp.set_tensor(index, feeds[name])
        self._interp.invoke()
        return [self._interp.get_tensor(index) for index in self._out_index]
