"""PyTorch sources: a torch.export program (.pt2), a `package.module:factory` that returns an nn.Module, or (only
when the user allows it) a pickled module (.pt). To ONNX with torch's own exporter (torch.onnx, dynamo), to TFLite
with litert-torch."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.convert.formats import Source
from edgeprof.convert.sources import InputSpec, Made, SourceModel, flat_outputs, given_shapes
from edgeprof.convert.variants import tool_versions
from edgeprof.errors import ConfigError

OPSET = 18  # the opset torch.onnx's dynamo exporter writes by default


class TorchModel(SourceModel):
    """An nn.Module in eval mode with its example inputs (float32 unless the program says otherwise)."""

    def __init__(self, source: Source, shapes: dict[str, tuple[int, ...]]) -> None:
        import torch

        self.program: Any = None
        if source.kind == "torch-export":
            self.program = torch.export.load(source.where)
            self.module = self.program.module()  # an exported program is already in inference form
            names, found, dtypes = _program_inputs(self.program)
        else:
            made = _factory(source.where) if source.kind == "torch-factory" else _unpickle(source.where)
            self.module = made.eval()
            names = [n for n in shapes if n] or ["input"]
            found, dtypes = [None] * len(names), ["float32"] * len(names)
        dims = given_shapes(names, shapes, found, source.where)
        self.inputs = [InputSpec(n, d, t) for n, d, t in zip(names, dims, dtypes)]
        self.output_names = [f"output_{i}" for i in range(len(self.run(self.examples())))]

    def examples(self) -> list[np.ndarray]:
        return [np.zeros(i.shape, i.dtype) for i in self.inputs]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            out = self.module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))
        return [t.detach().numpy() for t in flat_outputs(out)]

    def convert(self, target: str, path: Path) -> Made:
        import torch

        args = tuple(torch.from_numpy(a) for a in self.examples())
        if target == "onnx":
            torch.onnx.export(self.program if self.program is not None else self.module, args, str(path),
                              dynamo=True, input_names=[i.name for i in self.inputs],
                              output_names=self.output_names, opset_version=OPSET)
            return Made("torch.onnx.export (dynamo)", tool_versions("torch", "onnxscript", "onnx"),
                        {"dynamo": True, "opset": OPSET})
        import litert_torch

        litert_torch.convert(self.module, args).export(str(path))
        return Made("litert-torch", tool_versions("torch", "litert-torch", "ai-edge-litert"))


def _program_inputs(program: Any) -> tuple[list[str], list[tuple[int, ...] | None], list[str]]:
    """A torch.export program's user inputs: names, dims and dtypes from its placeholders' example values."""
    from torch.export.graph_signature import InputKind

    wanted = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
    values = {node.name: node.meta.get("val") for node in program.graph.nodes if node.op == "placeholder"}
    shapes: list[tuple[int, ...] | None] = []
    dtypes = []
    for name in wanted:
        value = values.get(name)
        static = value is not None and all(isinstance(d, int) for d in value.shape)
        shapes.append(tuple(value.shape) if static else None)
        dtypes.append(str(value.dtype).removeprefix("torch.") if value is not None else "float32")
    return wanted, shapes, dtypes


def _factory(reference: str) -> Any:
    """The module a `package.module:factory` returns (called with no arguments)."""
    module_name, _, attr = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except AttributeError:
        raise ConfigError(f"{reference}: module '{module_name}' has no '{attr}'") from None
    made = factory() if callable(factory) else factory
    import torch

    if not isinstance(made, torch.nn.Module):
        raise ConfigError(f"{reference} gave a {type(made).__name__}, not a torch.nn.Module")
    return made


def _unpickle(path: str) -> Any:
    """A whole pickled module (--allow-pickle: the user trusts the file; loading it runs its code)."""
    import torch

    made = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(made, torch.nn.Module):
        raise ConfigError(f"{path} holds a {type(made).__name__} (a state dict?), not a whole torch.nn.Module: "
                          "name a package.module:factory that builds the model and loads it")
    return made

