"""A reference outputs NPZ (a source framework's outputs on the dataset, what `sweep` computes for a PyTorch or Keras
model) planned as every model's reference, sent to the device beside the dataset and compared with there: on the
local device and over the loopback SSH device, with real ONNX Runtime runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeprof.agent.accuracy import predict
from edgeprof.agent.backends import open_runtime
from edgeprof.agent.inputs import load_dataset
from edgeprof.artifacts import ReferenceOutputs, load_artifact, sha256_file
from edgeprof.deploy import run_deploy
from edgeprof.plan import Request, checked_settings, plan_models
from tests.support import DIGITS

MODELS = [DIGITS / "digits-fp32.onnx", DIGITS / "digits-int8-static.onnx"]
FAST = {"max_seconds": 0.2, "max_runs": 30, "power_seconds": 0.1}


def fp32_outputs_with_noise(path: Path) -> tuple[ReferenceOutputs, float]:
    """The fp32 model's first output on the digits test set (run here, as the device runs it) plus seeded noise,
    written as a reference outputs NPZ; and the SQNR the fp32 model must show against it."""
    runtime = open_runtime(str(MODELS[0]), "onnx", 1)
    feeds, _ = load_dataset(str(DIGITS / "test.npz"), runtime.inputs)
    own = predict(runtime, feeds, lambda done, total: None).astype(np.float64)
    noise = np.random.default_rng(2).standard_normal(own.shape) * 0.05 * np.abs(own).mean()
    np.savez(path, outputs=(own + noise).astype(np.float32))
    sent = np.load(path)["outputs"].astype(np.float64)
    sqnr = 10 * np.log10(np.sum(sent ** 2) / np.sum((sent - own) ** 2))
    return ReferenceOutputs(path, sha256_file(path)), float(sqnr)


def deploy_against(reference: ReferenceOutputs, device: str = "local") -> list[dict[str, Any]]:
    plan = plan_models(checked_settings(Request(models=[], devices=[device], dataset=DIGITS / "test.npz", **FAST)),
                       MODELS, reference)
    assert plan.references == {load_artifact(m).sha256: reference for m in MODELS}  # every model, its fp32 too
    results, failures = run_deploy(plan.profiles, plan.artifacts, plan.options, lambda *event: None,
                                   references=plan.references)
    assert not failures
    return results


def check_compared_with_the_file(results: list[dict[str, Any]], sqnr: float) -> None:
    fp32, int8 = results
    assert [r["status"] for r in results] == ["ok", "ok"], [r["error"] for r in results]
    for result in results:
        assert result["accuracy"]["reference"]["against"] == "outputs"
    assert fp32["accuracy"]["reference"]["sqnr_db"] == pytest.approx(sqnr, abs=0.01)  # the file's, not its own
    assert not fp32["accuracy"]["reference"]["identical"]
    drop = int8["accuracy"]["reference"]["top1"] - int8["accuracy"]["top1"]
    assert int8["accuracy"]["reference"]["accuracy_drop"] == pytest.approx(drop)
    assert fp32["accuracy"]["reference"]["top1"] == int8["accuracy"]["reference"]["top1"]  # one reference for both
    assert int8["transfer"]["files_cached"] >= 1  # the outputs went once, with the first model


def test_every_model_is_compared_with_the_outputs_file_on_the_local_device(tmp_path: Path) -> None:
    reference, sqnr = fp32_outputs_with_noise(tmp_path / "source-outputs.npz")
    check_compared_with_the_file(deploy_against(reference), sqnr)


def test_outputs_of_other_samples_fail_the_run_as_an_input_error(tmp_path: Path) -> None:
    short = tmp_path / "short.npz"
    np.savez(short, outputs=np.zeros((5, 10), np.float32))
    results = deploy_against(ReferenceOutputs(short, sha256_file(short)))
    for result in results:
        assert result["status"] == "failed" and result["error"]["kind"] == "input"
        assert result["error"]["stage"] == "accuracy" and "hold 5 samples" in result["error"]["message"]


@pytest.mark.ssh
def test_the_outputs_file_travels_over_ssh_like_the_dataset(loopback_device: str, tmp_path: Path) -> None:
    reference, sqnr = fp32_outputs_with_noise(tmp_path / "source-outputs.npz")
    check_compared_with_the_file(deploy_against(reference, loopback_device), sqnr)
