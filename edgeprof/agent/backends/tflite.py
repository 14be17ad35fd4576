"""The TFLite interpreter (ai-edge-litert, else tflite-runtime, else TensorFlow's) with its delegates."""

from __future__ import annotations

import ctypes
import functools
import os
import time
from typing import Any, Callable

import numpy as np

from ..probes.system import dist_version, module_version
from ..spec import DEFAULT_ACCELERATOR, AgentFailure
from . import litert_profiler
from .base import (
    Backend,
    ProfileUnavailable,
    Runtime,
    TensorInfo,
    import_runtime,
    load_failure,
    missing_accelerator,
    one_line,
    placement_section,
    profile_section,
)

# The interpreters, best first: (module, distribution); LiteRT is tflite-runtime's maintained successor.
MODULES = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)
BUILTIN = "builtin"  # TFLite's own kernels: where a node runs when no delegate takes it
DEFAULT = DEFAULT_ACCELERATOR["tflite"]  # applied by the interpreter itself unless the default delegates are turned off
NO_DELEGATE = ("none", "cpu", BUILTIN)
PROFILE_SETUP_S = 120.0  # the profiler's child process: starting Python and numpy, compiling the model
# Delegates known by name, and the shared library each is loaded from.
LIBRARIES = {"gpu": "libtensorflowlite_gpu_delegate.so", "edgetpu": "libedgetpu.so.1",
             "armnn": "libarmnnDelegate.so", "hexagon": "libhexagon_interface.so"}


class TfliteBackend(Backend):
    """TFLite models through whichever interpreter the device has."""

    name = "tflite"
    formats = ("tflite",)

    def import_module(self) -> tuple[Any, str]:
        return import_runtime(MODULES, "no TFLite interpreter (pip install ai-edge-litert, or tflite-runtime on "
                              "Python <= 3.11)")

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False) -> Runtime:
        module, dist = self.import_module()
        return TfliteRuntime(module, dist, path, threads, (accel or {}).get("delegates"))

    def installed(self) -> dict[str, str | None]:
        return {dist: dist_version(dist) for _module, dist in MODULES}

    def accelerators(self) -> list[dict[str, Any]]:
        try:
            module, dist = self.import_module()
        except AgentFailure:
            return []
        version = dist_version(dist) or "unknown"
        found = [{"runtime": dist, "version": version, "kind": "delegate", "name": DEFAULT}]
        for name, library in LIBRARIES.items():
            if _loadable(library):
                found.append({"runtime": dist, "version": version, "kind": "delegate", "name": name,
                              "library": library})
        return found

    def profile_ops(self, path: str, threads: int | None, accel: dict[str, Any] | None,
                    feeds: dict[str, np.ndarray], seconds: float = 1.0, max_runs: int = 200) -> dict[str, Any] | None:
        """Per-operator times from LiteRT's profiler (its C API: the Python interpreters have none), on the CPU
        accelerator with the kernels the timed runs used: XNNPACK, or the built-in kernels alone."""
        module, dist = self.import_module()
        if dist != "ai-edge-litert":
            raise ProfileUnavailable(f"{dist} has no per-operator profiler (ai-edge-litert 2.2 or newer has one)")
        runtime = self.open(path, threads, accel)
        external = [name for name in runtime.active if name != DEFAULT]
        if external:
            raise ProfileUnavailable(f"LiteRT's profiler covers XNNPACK and the built-in kernels, not the "
                                     f"{', '.join(external)} delegate")
        ops, builtin_only = runtime.ops(), DEFAULT not in runtime.active
        library = litert_profiler.library_path(os.path.dirname(module.__file__), runtime.version)
        del runtime
        runs, events = litert_profiler.profile_events(library, path, threads, feeds, builtin_only=builtin_only,
                                                      seconds=seconds, max_runs=max_runs,
                                                      timeout=seconds + PROFILE_SETUP_S)
        profile = aggregate_litert_profile(runs, events, ops or [])
        profile["note"] = ("from a separate profiled session (a LiteRT compiled model on the CPU accelerator): the "
                           "profiler slows every call, so read the shares")
        return profile


def _api(module: Any, name: str) -> Any:
    """An interpreter module's attribute; TensorFlow keeps OpResolverType and load_delegate in tf.lite.experimental."""
    return getattr(module, name, None) or getattr(module.experimental, name)


def _loadable(library: str) -> bool:
    """Whether the shared library of a delegate can be loaded here (without creating the delegate)."""
    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


class TfliteRuntime(Runtime):
    """One interpreter, with the chosen delegates applied."""

    def __init__(self, module: Any, dist: str, path: str, threads: int | None,
                 chosen: list[dict[str, Any]] | None) -> None:
        self.name = dist
        self.version = module_version(module.__name__.split(".")[0], dist) or "unknown"
        self.threads = {"num_threads": threads or "default"}
        self._requested = [c["name"] for c in chosen] if chosen else [DEFAULT]
        fallback = self._requested[-1] in NO_DELEGATE
        externals, self._unavailable = [], []
        for choice in chosen or []:
            name, options = choice["name"], choice.get("options") or {}
            if name in NO_DELEGATE or name == DEFAULT:
                if options:
                    raise AgentFailure("accelerator_options", f"delegate '{name}' takes no options here "
                                       f"(got {', '.join(options)})", "load")
                continue
            delegate = self._load_delegate(module, name, options, fallback)
            if delegate is not None:
                externals.append((name, delegate))
        use_default = DEFAULT in self._requested
        self._active = [name for name, _ in externals] + ([DEFAULT] if use_default else [])
        resolvers = _api(module, "OpResolverType")
        resolver = resolvers.AUTO if use_default else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.compile: dict[str, Any] | None = None
        start = time.perf_counter_ns()
        if externals:  # an interpreter without delegates first, so the delegates' preparation is a figure apart
            self._interpreter(module, path, threads, resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES, [])
            plain_ms = (time.perf_counter_ns() - start) / 1e6
            start = time.perf_counter_ns()
        self._interp = self._interpreter(module, path, threads, resolver, [d for _, d in externals])
        self.load_ms = (time.perf_counter_ns() - start) / 1e6
        if externals:
            self.compile = {"ms": max(self.load_ms - plain_ms, 0.0), "session_ms": self.load_ms, "cache": "off",
                            "method": "derived:interpreter with delegates minus one without"}
            self.load_ms = plain_ms
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = [self._info(d) for d in self._in]
        self.outputs = [self._info(d) for d in self._out]
        self._feed_order = [(d["name"], int(d["index"])) for d in self._in]
        self._out_index = [int(d["index"]) for d in self._out]
        self._shapes = {int(d["index"]): tuple(int(x) for x in d["shape"]) for d in self._in}

    def _load_delegate(self, module: Any, name: str, options: dict[str, Any], fallback: bool) -> Any:
        """An external delegate by name or library path; a missing one is an error unless the list has a fallback,
        and one that will not start (bad options, no device behind it) is always an error."""
        library = LIBRARIES.get(name, name)
        if not _loadable(library):
            if fallback:
                self._unavailable.append(name)
                return None
            offered = [a["name"] for a in BACKEND.accelerators()] + ["none"]
            raise missing_accelerator("delegate", f"{name} ({library})" if library != name else name, offered,
                                      "none")
        try:
            return _api(module, "load_delegate")(library, {k: str(v) for k, v in options.items()})
        except (ValueError, OSError, RuntimeError, AttributeError) as exc:  # AttributeError: not a delegate
            raise AgentFailure("accelerator_options", f"delegate '{name}' did not start with options {options}: "
                               f"{one_line(exc)}", "load") from exc

    @staticmethod
    def _interpreter(module: Any, path: str, threads: int | None, resolver: Any, delegates: list[Any]) -> Any:
        try:
            interp = module.Interpreter(model_path=path, num_threads=threads, experimental_delegates=delegates or None,
                                        experimental_op_resolver_type=resolver)
            interp.allocate_tensors()
        except Exception as exc:  # the interpreters raise ValueError/RuntimeError with the reason
            raise load_failure(getattr(module, "__name__", "tflite").split(".")[0].replace("_", "-"), exc) from exc
        return interp

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
        self._set_inputs(feeds)
        self._interp.invoke()
        return [self._interp.get_tensor(index) for index in self._out_index]

    def timed(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        self.prepare(feeds)
        self._set_inputs(feeds)
        return self._interp.invoke

    def copies(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any] | None:
        return functools.partial(self._copy, feeds)

    def _set_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        for name, index in self._feed_order:
            self._interp.set_tensor(index, feeds[name])

    def _copy(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """What `run` adds to `invoke`: the inputs copied in, the outputs copied out."""
        self._set_inputs(feeds)
        return [self._interp.get_tensor(index) for index in self._out_index]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "delegates": self._active, "requested": self._requested,
                "compile": self.compile}

    @property
    def active(self) -> list[str]:
        """The delegates applied, in order (`xnnpack` for the interpreter's default one)."""
        return self._active

    def ops(self) -> list[dict[str, Any]] | None:
        """The graph after delegation: each node's index, op name and tensors (None where the interpreter does
        not tell)."""
        try:
            return self._interp._get_ops_details()  # the interpreters' only view of the graph after delegation
        except AttributeError:
            return None

    def placement(self) -> dict[str, Any] | None:
        ops = self.ops()
        if ops is None:
            return None
        nodes = delegated_nodes(ops, "+".join(a for a in self._active) or "delegate")
        return placement_section("tflite-graph: the nodes inside each DELEGATE node's partition", self._requested,
                                 self._active, self._unavailable, nodes, BUILTIN)


def partitions(ops: list[dict[str, Any]]) -> list[list[int]]:
    """The original nodes inside each DELEGATE node's partition, in the order the DELEGATE nodes run: every node
    between the partition's input and output tensors, by index."""
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in original for t in op["outputs"]}
    found: list[list[int]] = []
    for op in ops:
        if op["op_name"] != "DELEGATE":
            continue
        boundary = {int(t) for t in op["inputs"]}
        stack = [int(t) for t in op["outputs"]]
        taken: set[int] = set()
        while stack:
            tensor = stack.pop()
            index = producer.get(tensor)
            if tensor in boundary or index is None or index in taken:
                continue
            taken.add(index)
            stack += [int(t) for t in ops[index]["inputs"] if int(t) >= 0]
        found.append(sorted(taken))
    return found


def delegated_nodes(ops: list[dict[str, Any]], delegate: str) -> list[dict[str, Any]]:
    """Each original node and where it runs: inside a DELEGATE node's partition, else on the built-in kernels."""
    taken = {index for part in partitions(ops) for index in part}
    return [{"node": f"{op['op_name']}_{op['index']}", "op": op["op_name"],
             "ran_on": delegate if op["index"] in taken else BUILTIN} for op in ops if op["op_name"] != "DELEGATE"]


# XNNPACK operators that move or convert data, and the TFLite ops they stand for; one met at any other node was
# inserted by XNNPACK (a reshape before a fully connected layer, say) and counts for the node it feeds.
HELPERS = ("Static Reshape", "Copy", "Convert", "Transpose")
HELPED = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE", "CAST", "TRANSPOSE"}


def match_partition(kernels: list[str], nodes: list[int], names: dict[int, str]) -> dict[int, int] | None:
    """XNNPACK's operators of one partition (their names, in order) matched to its TFLite nodes (in order):
    {operator index: node index}, or None where they do not line up."""
    matched: dict[int, int] = {}
    pending: list[int] = []
    remaining = iter(nodes)
    node = next(remaining, None)
    for i, kernel in enumerate(kernels):
        if node is None:
            return None
        if kernel.startswith(HELPERS) and names.get(node) not in HELPED:
            pending.append(i)
            continue
        matched.update({p: node for p in pending + [i]})
        pending = []
        node = next(remaining, None)
    return matched if node is None and not pending else None


def aggregate_litert_profile(runs: int, events: list[litert_profiler.OpEvent], ops: list[dict[str, Any]],
                             top: int = 10) -> dict[str, Any]:
    """LiteRT's operator events into time per TFLite op type and the slowest nodes. A built-in kernel's event
    names its node; XNNPACK's operators are matched to the nodes of their partition (`match_partition`), and
    where they cannot be, each is listed under its partition with XNNPACK's name."""
    names = {op["index"]: op["op_name"] for op in ops}
    parts = partitions(ops)
    kernels: dict[int, dict[int, str]] = {}
    for event in events:
        if event.delegated:
            kernels.setdefault(event.partition, {})[event.node] = event.tag
    matches = {p: match_partition([k.get(i, "") for i in range(max(k) + 1)], parts[p], names)
               if p < len(parts) else None for p, k in kernels.items()}
    by_type: dict[str, float] = {}
    by_node: dict[str, dict[str, Any]] = {}
    for event in events:
        match = matches.get(event.partition) if event.delegated else None
        if not event.delegated:
            op, index, row = event.tag, event.node, {"provider": BUILTIN}
            name = f"{op}_{index}" if event.partition <= 0 else f"{op}_{event.partition}:{index}"
        elif match is not None:
            index = match[event.node]
            op = names.get(index, event.tag)
            name, row = f"{op}_{index}", {"provider": DEFAULT, "kernel": event.tag}
        else:
            op, index = event.tag, None
            name, row = f"{DEFAULT} partition {event.partition} op {event.node}", {"provider": DEFAULT}
        by_type[op] = by_type.get(op, 0.0) + event.elapsed_us
        entry = by_node.setdefault(name, {"op": op, **row, "index": index, "us": 0.0})
        if row.get("kernel") and row["kernel"] not in entry["kernel"]:
            entry["kernel"] += " + " + row["kernel"]
        entry["us"] += event.elapsed_us
    profile = profile_section("sensor:litert-profiler", runs, by_type, by_node, top)
    unmatched = sorted(p for p, match in matches.items() if match is None)
    if unmatched:
        profile["unmatched_partitions"] = unmatched
    return profile


BACKEND = TfliteBackend()
