"""Recommendation on hand-built variants; Mann-Whitney comparisons and regression gating."""

from __future__ import annotations

import copy

import pytest

from edgeprof.compare import compare_runs, latency_test, regressions
from edgeprof.constraints import parse_constraint
from edgeprof.report.recommendation import describe
from edgeprof.verdicts import recommend
from tests.verdicts.factory import judged, make, with_samples

LIMITS = [parse_constraint(t) for t in ("latency.p95_ms<=20", "memory.peak_rss_mb<=150", "accuracy.top1>=0.95")]


def variant(name: str, p95: float, top1: float, energy: float, peak: float = 100.0, **more: object) -> dict:
    return make(variant=name, latency__p95_ms=p95, latency__ci={"confidence": 0.95, "p95": [p95 * 0.99, p95 * 1.01]},
                accuracy__top1=top1, power__energy_mj_per_inference=energy, memory__peak_rss_mb=peak, **more)


def names(results: list[dict]) -> list[str]:
    return [r["model"]["variant"] for r in results]


def test_best_feasible_front_and_reasons() -> None:
    rows = [
        variant("fp32", p95=30.0, top1=0.985, energy=50.0),          # too slow
        variant("fp16", p95=18.0, top1=0.975, energy=45.0),          # feasible
        variant("int8-dynamic", p95=15.0, top1=0.975, energy=30.0),  # feasible, same accuracy, faster: best
        variant("int8-static", p95=8.0, top1=0.93, energy=20.0),     # accuracy too low
        variant("big", p95=10.0, top1=0.96, energy=60.0, peak=400.0),  # too much memory
        make(variant="broken", status="failed", error={"kind": "runtime", "message": "unsupported op"},
             latency=None, memory=None, accuracy=None, power=None),
    ]
    (rec,) = recommend(judged(rows, LIMITS))
    assert (rec.device, rec.model) == ("local", "digits")
    assert rec.best is rows[2]
    assert names(rec.front) == ["int8-static", "big", "int8-dynamic", "fp32"]
    assert names(rec.energy_front) == ["int8-static", "int8-dynamic", "fp32"]
    reasons = {r["model"]["variant"]: (why.kind, why.text) for r, why in rec.rejected}
    assert reasons == {
        "fp16": ("latency", "slower at equal accuracy: p95 18.0 ms vs 15.0 ms"),
        "fp32": ("constraint", "fails latency.p95_ms <= 20.0 ms (value 30.0 ms)"),
        "int8-static": ("constraint", "fails accuracy.top1 >= 0.95 (value 0.930)"),
        "big": ("constraint", "fails memory.peak_rss_mb <= 150 MB (value 400 MB)"),
        "broken": ("run", "run failed: runtime: unsupported op")}
    lines = describe(rec)
    assert lines[0].startswith("local / digits: recommended int8-dynamic onnx (p95 15")
    assert "not fp32 onnx: fails latency.p95_ms <= 20.0 ms (value 30.0 ms)" in lines


def test_ties_break_on_energy_and_latest_result_wins() -> None:
    old = variant("a", p95=5.0, top1=0.99, energy=1.0, run_id="r1")
    rows = [old, variant("a", p95=10.0, top1=0.97, energy=10.0, run_id="r2"),
            variant("b", p95=10.0, top1=0.97, energy=9.0, run_id="r2")]
    (rec,) = recommend(judged(rows, LIMITS))
    assert rec.best is rows[2]
    assert old not in rec.front and old not in [r for r, _ in rec.rejected]
    assert [(why.kind, why.text) for _, why in rec.rejected] == [
        ("energy", "more energy at equal accuracy and p95: 10.0 vs 9.00 mJ/inf")]


def test_formats_of_one_variant_stay_apart() -> None:
    onnx = variant("int8", p95=10.0, top1=0.97, energy=5.0)
    tflite = variant("int8", p95=9.0, top1=0.97, energy=5.0)
    tflite["model"]["format"] = "tflite"
    (rec,) = recommend(judged([onnx, tflite], LIMITS))
    assert rec.best is tflite and rec.front == [tflite]
    assert [why.kind for _, why in rec.rejected] == ["latency"]
    faster = with_samples(copy.deepcopy(tflite), 5.0, seed=7)
    comparisons = compare_runs([with_samples(onnx, 10.0, seed=6), with_samples(tflite, 10.0, seed=8)],
                               [with_samples(copy.deepcopy(onnx), 10.0, seed=9), faster])
    assert [(c.model, c.latency.verdict) for c in comparisons] == [
        ("digits-int8 onnx", "no significant change"), ("digits-int8 tflite", "faster")]


def test_nothing_feasible_and_per_device_groups() -> None:
    rows = [variant("fp32", p95=30.0, top1=0.99, energy=5.0),
            variant("fp32", p95=30.0, top1=0.99, energy=5.0, device="pi5")]
    recs = recommend(judged(rows, lambda r: LIMITS if r["device"] == "local"
                             else [parse_constraint("latency.p95_ms<=50")]))
    assert [(r.device, r.best is not None) for r in recs] == [("local", False), ("pi5", True)]
    assert describe(recs[0])[0] == "local / digits: no variant meets every constraint"


def test_inconclusive_and_emulated_verdicts_in_recommendation() -> None:
    unsure = variant("unsure", p95=19.9, top1=0.99, energy=5.0)
    emulated = variant("emu", p95=15.0, top1=0.97, energy=5.0, latency__method="emulated:qemu-tcg")
    (rec,) = recommend(judged([unsure, emulated], LIMITS))
    assert rec.best is emulated
    assert [(why.verdict["constraint"], why.verdict["status"]) for _, why in rec.rejected] == [
        ("latency.p95_ms", "inconclusive")]


def test_mann_whitney_known_cases() -> None:
    a = with_samples(make(), 10.0, seed=1)["latency"]["samples_ms"]
    same = with_samples(make(), 10.0, seed=2)["latency"]["samples_ms"]
    slower = with_samples(make(), 12.0, seed=3)["latency"]["samples_ms"]
    faster = with_samples(make(), 8.0, seed=4)["latency"]["samples_ms"]
    tiny = with_samples(make(), 10.2, seed=5, n=4000)["latency"]["samples_ms"]
    assert latency_test(a, same).verdict == "no significant change"
    test = latency_test(a, slower)
    assert test.verdict == "slower" and test.median_ratio == pytest.approx(1.2, rel=0.02) and test.p_value < 1e-10
    assert latency_test(a, faster).verdict == "faster"
    small_shift = latency_test(a, tiny)  # significant but below the 5% minimum effect
    assert small_shift.p_value < 0.01 and small_shift.verdict == "below the minimum effect"
    assert test.effect_size > 0.9 > -0.9 > latency_test(a, faster).effect_size  # Cliff's delta: B slower is positive
    assert abs(latency_test(a, same).effect_size) < 0.2
    assert latency_test([], slower).verdict.startswith("not tested")


def test_compare_runs_and_regression_gate() -> None:
    run_a = [with_samples(variant("fp32", 12.0, 0.98, 40.0), 10.0, seed=1),
             with_samples(variant("int8", 8.0, 0.97, 20.0), 6.0, seed=2)]
    run_b = [with_samples(variant("fp32", 14.4, 0.98, 44.0), 12.0, seed=3),
             with_samples(variant("int8", 8.0, 0.97, 20.0), 6.0, seed=4),
             with_samples(variant("fp16", 9.0, 0.98, 30.0), 7.0, seed=5)]
    comparisons = compare_runs(run_a, run_b)
    assert [(c.model, c.latency.verdict) for c in comparisons] == [
        ("digits-fp32 onnx", "slower"), ("digits-int8 onnx", "no significant change")]
    assert comparisons[0].ratios["latency.p95_ms"] == pytest.approx(1.2)
    assert comparisons[0].ratios["power.energy_mj"] == pytest.approx(1.1)
    assert [c.model for c in regressions(comparisons, 1.10)] == ["digits-fp32 onnx"]
    assert regressions(comparisons, 1.30) == []
