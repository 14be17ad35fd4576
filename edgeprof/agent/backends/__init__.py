"""Runtime backends: one module per runtime, registered here by name; each says which formats it opens.

A new runtime is one module with a `BACKEND` (a `base.Backend`) plus its line in `REGISTRY`."""

from __future__ import annotations

import importlib
from typing import Any

from ..spec import AgentFailure, ErrorKind, Stage
from .base import Backend, Runtime, TensorInfo

REGISTRY = {"onnxruntime": "ort", "tflite": "tflite", "llama.cpp": "llama", "onnxruntime-genai": "genai"}  # name -> module

__all__ = ["Backend", "Runtime", "TensorInfo", "backends", "backend_for", "open_runtime"]


def backends() -> list[Backend]:
    """Every registered backend (importing one imports no runtime)."""
    return [importlib.import_module(f".{module}", __name__).BACKEND for module in REGISTRY.values()]


def backend_for(fmt: str) -> Backend:
    """The backend that opens a model format."""
    for backend in backends():
        if fmt in backend.formats:
            return backend
    raise AgentFailure(ErrorKind.MODEL_LOAD, f"unknown model format {fmt!r}", Stage.LOAD)


def open_runtime(path: str, fmt: str, threads: int | None, accel: dict[str, Any] | None = None, *,
                 op_profile: bool = False, trace_placement: bool = False) -> Runtime:
    """Import the runtime and load the model; AgentFailure on a missing runtime, accelerator or a bad model.

    `op_profile` turns on the runtime's per-node profiler, which slows every call several times over: never
    time a profiled session (see `Backend.profile_ops`). `trace_placement` profiles only until `placement()`.
    """
    return backend_for(fmt).open(path, threads, accel, op_profile=op_profile, trace_placement=trace_placement)
