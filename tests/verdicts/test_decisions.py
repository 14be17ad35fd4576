"""Decisions the data can support: accuracy intervals and McNemar's exact test (against scipy), recommendations
that tie unsupported accuracy differences and give every variant not chosen its reason, and stored verdict rows
that are drawn as stored."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from scipy.stats import binomtest

from edgeprof.constraints import parse_constraint
from edgeprof.decisions import Status, overall
from edgeprof.proportions import mcnemar_exact, unpack_correct, wilson
from edgeprof.report.recommendation import describe, recommendation_json
from edgeprof.verdicts import accuracy_test, build_report, recommend
from tests.verdicts.factory import judged, make

LIMITS = [parse_constraint(t) for t in ("latency.p95_ms<=100", "accuracy.top1>=0.5")]


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (354, 360), (190, 200), (3, 7), (500, 1000)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    low, high = binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((low, high), abs=1e-9)
    assert wilson(0, 0) is None


@pytest.mark.parametrize(("only_a", "only_b"), [(0, 0), (1, 0), (7, 6), (12, 2), (0, 9), (40, 25), (3, 30)])
def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs(only_a: int, only_b: int) -> None:
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-9)


def answered(correct: np.ndarray, **more: object) -> dict:
    """A Result whose top-1 got exactly `correct` right, recorded as the agent records it."""
    packed = base64.b64encode(np.packbits(correct).tobytes()).decode("ascii")
    return make(accuracy__top1=float(correct.mean()), accuracy__samples=len(correct), accuracy__correct=packed,
                accuracy__dataset_sha256="cd" * 32, **more)


def test_per_sample_answers_round_trip() -> None:
    correct = np.random.default_rng(3).random(361) < 0.9
    assert unpack_correct(answered(correct)["accuracy"]["correct"], 361) == correct.tolist()


def with_errors(wrong: list[int], n: int = 360) -> np.ndarray:
    correct = np.ones(n, dtype=bool)
    correct[wrong] = False
    return correct


def test_one_sample_does_not_decide_and_the_faster_variant_wins() -> None:
    """354/360 against 353/360 on the same samples: McNemar p = 1, a tie; p95 decides, and the reason says so."""
    fp32 = answered(with_errors(list(range(7))), variant="fp32", latency__p95_ms=0.012,
                    latency__ci={"confidence": 0.95, "p95": [0.0118, 0.0122]})
    int8 = answered(with_errors(list(range(1, 7))), variant="int8-static", latency__p95_ms=0.02,
                    latency__ci={"confidence": 0.95, "p95": [0.0195, 0.0205]})
    assert accuracy_test(int8, fp32) == (False, 1.0)
    (rec,) = recommend(judged([fp32, int8], LIMITS))
    assert rec.best is fp32
    ((lost, reason),) = rec.rejected
    assert lost is int8 and (reason.kind, reason.text) == (
        "latency", "slower at equal accuracy: p95 20.0 µs vs 12.0 µs")


def test_a_supported_accuracy_difference_decides_with_its_p_value() -> None:
    accurate = answered(with_errors(list(range(14))), variant="fp32", latency__p95_ms=50.0,
                        latency__ci={"confidence": 0.95, "p95": [49.0, 51.0]})
    worse = answered(with_errors(list(range(29))), variant="int8", latency__p95_ms=10.0,
                     latency__ci={"confidence": 0.95, "p95": [9.9, 10.1]})
    (rec,) = recommend(judged([accurate, worse], LIMITS))
    assert rec.best is accurate
    ((_, reason),) = rec.rejected
    assert reason.kind == "accuracy" and reason.p_value == pytest.approx(mcnemar_exact(0, 15))
    assert reason.text == "less accurate: top-1 0.919 vs 0.961, p < 0.001"
    assert describe(rec)[-1] == "not int8 onnx: less accurate: top-1 0.919 vs 0.961, p < 0.001"
    as_json = recommendation_json(rec)
    assert as_json["rejected"][0]["reason"] == "accuracy" and as_json["rejected"][0]["p_value"] < 0.001
    assert as_json["best"]["top1_ci95"] == pytest.approx(list(wilson(346, 360)))


def test_without_paired_answers_only_intervals_apart_count() -> None:
    """Results stored before per-sample answers were recorded: a difference counts only where the 95% Wilson
    intervals do not overlap."""
    close = [make(variant="a", accuracy__top1=0.96, accuracy__samples=200),
             make(variant="b", accuracy__top1=0.95, accuracy__samples=200)]
    assert accuracy_test(close[0], close[1]) == (False, None)
    apart = make(variant="c", accuracy__top1=0.70, accuracy__samples=200)
    assert accuracy_test(close[0], apart) == (True, None)


def test_samples_of_different_datasets_are_not_paired() -> None:
    a = answered(with_errors(list(range(5))))
    b = answered(with_errors(list(range(14))))
    b["accuracy"]["dataset_sha256"] = "ef" * 32
    assert accuracy_test(a, b) == (False, None)  # intervals overlap
    b["accuracy"]["dataset_sha256"] = a["accuracy"]["dataset_sha256"]
    assert accuracy_test(a, b) == (True, pytest.approx(mcnemar_exact(9, 0)))  # paired, the test decides


def test_stored_rows_are_drawn_as_stored_never_judged_again() -> None:
    """A server run's `server.valid` row and a metric this version does not know: the report model keeps them,
    the recommendation reads their statuses, and nothing raises (report and plot crashed with KeyError)."""
    served = make(scenario={"method": "measured", "run": {"valid": True, "result": "VALID", "target_qps": 200}})
    served["verdicts"] = [
        {"constraint": "server.valid", "op": "==", "bound": True, "value": True, "status": "pass", "method": "measured",
         "unit": "", "source": "scenario", "detail": "VALID at 200 QPS"},
        {"constraint": "future.metric", "op": "<=", "bound": 3.0, "value": 9.0, "status": "fail", "unit": "x",
         "method": "measured", "source": "profile", "detail": ""}]
    report = build_report([served])
    assert report.results[0]["verdicts"] == served["verdicts"] and overall(served) is Status.FAIL
    rec = report.recommendation("local", "digits")
    assert rec is not None and rec.best is None
    assert [why.text for _, why in rec.rejected] == ["fails future.metric <= 3 x (value 9.00 x)"]
    unknown = make()
    unknown["verdicts"] = [{"constraint": "latency.p95_ms", "op": "<=", "bound": 50.0, "value": 1.0,
                            "status": "wobbly", "unit": "ms", "method": "measured", "source": "-"}]
    (rec,) = recommend([unknown])
    assert rec.best is None and "a status this version does not know" in rec.rejected[0][1].text


def test_strict_is_one_rule() -> None:
    assert Status.FAIL.failing() and not Status.INCONCLUSIVE.failing()
    assert Status.INCONCLUSIVE.failing(strict=True) and not Status.PASS.failing(strict=True)


def generated(p95: float, ci: list[float], method: str = "measured") -> dict:
    """A GGUF run's Result: TTFT and TPOT distributions as the agent writes them (agent/generation.py)."""
    def distribution(value: float) -> dict:
        return {"p95_ms": value, "samples": 40, "ci": {"confidence": 0.95, "p95": ci}}
    result = make(latency=None, accuracy=None, generation={
        "method": method, "ttft": distribution(p95), "tpot": distribution(p95 / 10),
        "decode_tokens_per_s": 60.0, "quality": {"perplexity": 12.0}})
    result["model"].update(format="gguf", path="models/digits/digits-fp32.gguf")
    return result


def test_generation_percentiles_are_judged_with_their_own_intervals() -> None:
    from edgeprof.verdicts import judge

    ttft = [parse_constraint("generation.ttft_p95_ms<=300")]
    assert judge(generated(250.0, [240.0, 260.0]), ttft)[0]["status"] == "pass"
    (straddles,) = judge(generated(290.0, [280.0, 310.0]), ttft)
    assert straddles["status"] == "inconclusive" and "CI [280 ms, 310 ms] straddles the bound" in straddles["detail"]
    emulated = generated(250.0, [240.0, 260.0], method="emulated:qemu-tcg")
    (row,) = judge(emulated, ttft)
    assert row["status"] == "informational" and "(would be pass)" in row["detail"]
    (quality,) = judge(emulated, [parse_constraint("generation.perplexity<=20")])
    assert quality["status"] == "pass"  # perplexity does not depend on timing: emulation does not change it
