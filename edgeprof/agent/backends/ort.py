"""ONNX Runtime with its execution providers (CPU, OpenVINO, CUDA, TensorRT, ...)."""

from __future__ import annotations

import functools
import glob
import json
import os
import tempfile
import time
from typing import Any, Callable

import numpy as np

from ..probes.system import dist_version
from ..spec import DEFAULT_ACCELERATOR, AgentFailure, ErrorKind, Stage
from .base import (
    Backend,
    Runtime,
    TensorInfo,
    cache_key,
    import_runtime,
    load_failure,
    missing_accelerator,
    placement_section,
    profile_section,
)

CPU = "CPUExecutionProvider"
ASSIGNMENT = "session.record_ep_graph_assignment_info"  # keeps which provider took each node (ORT >= 1.24)
# Short names users type (`--ep openvino`); a full provider name is accepted as it is.
PROVIDERS = {
    "cpu": CPU, "openvino": "OpenVINOExecutionProvider", "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider", "dnnl": "DnnlExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider", "coreml": "CoreMLExecutionProvider", "qnn": "QNNExecutionProvider",
    "nnapi": "NnapiExecutionProvider", "acl": "ACLExecutionProvider", "armnn": "ArmNNExecutionProvider",
    "rocm": "ROCMExecutionProvider", "migraphx": "MIGraphXExecutionProvider", "webgpu": "WebGpuExecutionProvider",
}
# Providers that compile the graph when the session is created, and the options that cache what they built.
COMPILE_CACHE = {
    "OpenVINOExecutionProvider": lambda d: {"cache_dir": d},
    "TensorrtExecutionProvider": lambda d: {"trt_engine_cache_enable": "1", "trt_engine_cache_path": d,
                                            "trt_timing_cache_enable": "1", "trt_timing_cache_path": d},
}
DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
                 "onnxruntime-qnn", "onnxruntime-training")
_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(int32)": "int32",
    "tensor(int64)": "int64", "tensor(bool)": "bool",
}


def provider_name(short: str) -> str:
    """The execution provider's full name for a short one (`openvino` -> `OpenVINOExecutionProvider`)."""
    return PROVIDERS.get(short.lower(), short)


def _distribution() -> str:
    """Which onnxruntime build is installed (onnxruntime, onnxruntime-gpu, -openvino, ...): the name its build
    info records, else the first of DISTRIBUTIONS installed."""
    try:
        from onnxruntime.capi.build_and_package_info import package_name
    except ImportError:
        return next((d for d in DISTRIBUTIONS if dist_version(d)), "onnxruntime")
    return package_name.replace("_", "-")


class OrtBackend(Backend):
    """ONNX models through onnxruntime (any of its builds: CPU, GPU, OpenVINO, ...)."""

    name = "onnxruntime"
    formats = ("onnx",)

    def import_module(self) -> tuple[Any, str]:
        module, _ = import_runtime((("onnxruntime", "onnxruntime"),), "onnxruntime is not installed "
                                   "(pip install onnxruntime)")
        return module, _distribution()

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False) -> Runtime:
        module, dist = self.import_module()
        return OrtRuntime(module, dist, path, threads, accel or {}, op_profile=op_profile,
                          trace_placement=trace_placement)

    def installed(self) -> dict[str, str | None]:
        return {"onnxruntime": next((dist_version(d) for d in DISTRIBUTIONS if dist_version(d)), None)}

    def accelerators(self) -> list[dict[str, Any]]:
        try:
            module, dist = self.import_module()
        except AgentFailure:
            return []
        return [{"runtime": dist, "version": module.__version__, "kind": "execution provider", "name": name,
                 "aliases": sorted(short for short, full in PROVIDERS.items() if full == name)}
                for name in module.get_available_providers()]


class OrtRuntime(Runtime):
    """One InferenceSession on the chosen providers."""

    def __init__(self, ort: Any, dist: str, path: str, threads: int | None, accel: dict[str, Any], *,
                 op_profile: bool, trace_placement: bool) -> None:
        self.name = "onnxruntime"
        self.version = ort.__version__
        self._ort, self._path = ort, path
        self.threads: dict[str, Any] = {"intra_op": threads or "default", "inter_op": 1,
                                        "spinning": not threads}  # ORT spins by default when threads are its own
        chosen = accel.get("providers") or [{"name": DEFAULT_ACCELERATOR["onnx"], "options": {}}]
        self._requested = [c["name"] for c in chosen]
        providers, self._unavailable = self._resolve(ort, chosen)
        self.compile: dict[str, Any] | None = None
        compiling = [name for name, _ in providers if name in COMPILE_CACHE]
        start = time.perf_counter_ns()
        if compiling:  # time a CPU-only session too, so the compile is a figure apart from the load
            self._session_for([(CPU, {})], threads, profiling=False)
            cpu_ms = (time.perf_counter_ns() - start) / 1e6
            providers, cache = self._with_cache(providers, accel, compiling[0])
            start = time.perf_counter_ns()
        profiling = op_profile or trace_placement
        self._session = self._session_for(providers, threads, profiling=profiling, assignment=trace_placement)
        session_ms = (time.perf_counter_ns() - start) / 1e6
        self.load_ms = session_ms
        if compiling:
            self.load_ms = cpu_ms
            self.compile = {"ms": max(session_ms - cpu_ms, 0.0), "session_ms": session_ms, **cache,
                            "method": "derived:accelerated session creation minus a CPU-only session's"}
        self._active = self._session.get_providers()
        lost = [p for p, _ in providers if p not in self._active]
        if lost:  # the runtime dropped a provider while creating the session (a library it needs is missing)
            if self._requested[-1:] != ["cpu"] and provider_name(self._requested[-1]) != CPU:
                raise AgentFailure(ErrorKind.ACCELERATOR_MISSING, f"onnxruntime could not start {', '.join(lost)} "
                                   f"on the device (the session runs on {', '.join(self._active)})", Stage.LOAD)
            self._unavailable += lost
        self.inputs = [self._info(i) for i in self._session.get_inputs()]
        self.outputs = [self._info(o) for o in self._session.get_outputs()]
        self._profiling = profiling
        self._events: list[dict[str, Any]] | None = None

    @staticmethod
    def _resolve(ort: Any, chosen: list[dict[str, Any]]) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
        """The requested providers the device has, in order; a missing one is an error unless a fallback ends
        the list (then it is listed as unavailable)."""
        offered = ort.get_available_providers()
        names = [provider_name(c["name"]) for c in chosen]
        providers, unavailable = [], []
        for choice, name in zip(chosen, names):
            if name in offered:
                providers.append((name, {k: str(v) for k, v in (choice.get("options") or {}).items()}))
            elif names[-1] == CPU and name != CPU:
                unavailable.append(name)
            else:
                raise missing_accelerator("execution provider", name, offered, "cpu")
        return providers, unavailable

    def _with_cache(self, providers: list[tuple[str, dict[str, str]]], accel: dict[str, Any],
                    compiling: str) -> tuple[list[tuple[str, dict[str, str]]], dict[str, Any]]:
        """Point the compiling provider at its cache entry (model, options, runtime version, hardware)."""
        root = accel.get("cache_dir")
        options = dict(providers)[compiling]
        if not root:
            return providers, {"cache": "off"}
        key = cache_key(accel.get("model_sha256"), {"provider": compiling, "options": options}, self.version)
        directory = os.path.join(root, key)
        hit = os.path.isdir(directory) and bool(os.listdir(directory))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        cached = {**COMPILE_CACHE[compiling](directory), **options}
        return ([(name, cached if name == compiling else opts) for name, opts in providers],
                {"cache": "hit" if hit else "miss", "cache_key": key})

    def _session_for(self, providers: list[tuple[str, dict[str, str]]], threads: int | None, *,
                     profiling: bool, assignment: bool = False) -> Any:
        ort = self._ort
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
            # Spinning workers steal the CPU from each other on small, busy boards: measured 2x slower.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if assignment:
            options.add_session_config_entry(ASSIGNMENT, "1")
        if profiling:
            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"edgeprof-ort-profile-{os.getpid()}")
        try:
            return ort.InferenceSession(self._path, sess_options=options, providers=[p for p, _ in providers],
                                        provider_options=[o for _, o in providers])
        except Exception as exc:  # ORT raises its own pybind exception types
            raise load_failure("onnxruntime", exc) from exc

    @staticmethod
    def _info(arg: Any) -> TensorInfo:
        shape = [d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or [])]
        dtype = _DTYPES.get(arg.type)
        if dtype is None:
            raise AgentFailure(ErrorKind.MODEL_LOAD, f"tensor '{arg.name}' has unsupported type {arg.type}", Stage.LOAD)
        return TensorInfo(arg.name, shape, dtype)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(None, feeds)

    def timed(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        # `run(None, feeds)`, the call ORT documents and user code makes: every output, the names listed by ORT's
        # own wrapper. A list of names passed in skips that and measured 3% faster than a user's loop on a
        # 12 us model (scripts/bench_overhead.py); no frame of ours in the call.
        return functools.partial(self._session.run, None, feeds)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self._active, "requested": self._requested,
                "compile": self.compile}

    def _profile_events(self) -> list[dict[str, Any]]:
        """End profiling (later runs are not profiled) and read its events once."""
        if self._events is None:
            path = self._session.end_profiling()
            try:
                with open(path) as fh:
                    self._events = json.load(fh)
            finally:
                for leftover in glob.glob(path):
                    os.remove(leftover)
        return self._events

    def op_profile(self) -> dict[str, Any] | None:
        return aggregate_ort_profile(self._profile_events()) if self._profiling else None

    def placement(self) -> dict[str, Any] | None:
        if not self._profiling:
            return None
        ms_by: dict[str, float] = {}
        executed: dict[str, dict[str, Any]] = {}
        for event in self._profile_events():
            if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time"):
                args = event.get("args", {})
                provider = args.get("provider", "?")
                ms_by[provider] = ms_by.get(provider, 0.0) + float(event.get("dur", 0)) / 1000
                name = event["name"][: -len("_kernel_time")]
                executed[name] = {"node": name, "op": args.get("op_name", "?"), "ran_on": provider}
        try:  # the graph's own nodes, even inside a provider's fused subgraph
            assigned = self._session.get_provider_graph_assignment_info()
        except (AttributeError, RuntimeError):  # an older onnxruntime: the profiler's (fused) nodes
            return placement_section("onnxruntime-profiler: the provider of each executed node", self._requested,
                                     self._active, self._unavailable, list(executed.values()), CPU, ms_by)
        nodes = [{"node": node.name or f"{node.op_type}#{i}", "op": node.op_type, "ran_on": part.ep_name}
                 for part in assigned for i, node in enumerate(part.get_nodes())]
        return placement_section("onnxruntime graph assignment (optimised graph); time per provider from its "
                                 "profiler", self._requested, self._active, self._unavailable, nodes, CPU, ms_by)


def aggregate_ort_profile(events: list[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """ORT profiling events into total time per op type and the slowest nodes (with the provider of each)."""
    by_type: dict[str, float] = {}
    by_node: dict[str, dict[str, Any]] = {}
    runs = 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs += 1
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        args = event.get("args", {})
        op = args.get("op_name", "?")
        node = event["name"][: -len("_kernel_time")]
        us = float(event.get("dur", 0))
        by_type[op] = by_type.get(op, 0.0) + us
        row = by_node.setdefault(node, {"op": op, "provider": "?", "us": 0.0})
        row["provider"], row["us"] = args.get("provider", "?"), row["us"] + us
    return profile_section("sensor:onnxruntime-profiler", runs, by_type, by_node, top)


BACKEND = OrtBackend()
