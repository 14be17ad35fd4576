"""What the commands do, under the CLI: deploy -> judge -> store; check (re-judge, the regression gate, the CI
summary); recommend; history; compare; explain; plot and report; and the one selector of stored Results they share.

Functions here decide and return; the CLI parses arguments, calls one of them and renders what comes back. Notes
meant for the user (a device profile that is gone, a baseline with nothing in common) are returned, not printed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from edgeprof.artifacts import ModelArtifact, Reference, printable
from edgeprof.compare import Comparison, compare_runs, history_rows, regressions
from edgeprof.constraints import Constraint, resolve_constraints, value_at
from edgeprof.cost import cost_section
from edgeprof.decisions import Recommendation, Report
from edgeprof.deploy import DeployOptions, run_deploy
from edgeprof.devices import DeviceProfile, load_profile, profile_files
from edgeprof.errors import (
    EXIT_CONSTRAINT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    Interrupted,
    StoreError,
)
from edgeprof.explain import Explanation, explain_runs
from edgeprof.project import ProjectFile
from edgeprof.report.junit import to_junit
from edgeprof.report.markdown import to_markdown
from edgeprof.result import Result
from edgeprof.store import Store, StoreTarget, open_store
from edgeprof.store.spool import spool_run
from edgeprof.verdicts import build_report, exit_code, judge, latest_variants, recommend

Doc = dict[str, Any]


# ---------------------------------------------------------------- choosing stored Results


@dataclass(frozen=True)
class Selection:
    """Which stored Results a command works on: these runs (None: every stored Result), devices and models
    (empty: all; a model matches by name, name-variant or file stem)."""

    runs: tuple[str, ...] | None = None
    devices: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @classmethod
    def of_runs(cls, runs: list[str], latest: bool, devices: list[str], models: list[str]) -> "Selection":
        """The --run refs (or --latest, the default) filtered by --device and --model; ConfigError for both."""
        if runs and latest:
            raise ConfigError("--run and --latest exclude each other: choose one")
        return cls(tuple(runs) or ("latest",), tuple(devices), tuple(models))

    def matches(self, result: Doc) -> bool:
        """Whether a Result passes the device and model filters."""
        view = Result(result)
        return ((not self.devices or view.device in self.devices)
                and (not self.models or bool(set(self.models) & set(view.names))))

    def load(self, db: Store, *, required: bool = True) -> tuple[list[str], list[Doc]]:
        """(the run ids, the matching Results oldest first); ConfigError when `required` and none match."""
        if self.runs is None:
            run_ids, results = [], db.query()
        else:
            run_ids = list(dict.fromkeys(db.resolve_run(ref) for ref in self.runs))
            results = [r for run_id in run_ids for r in db.load_run(run_id)]
        chosen = [r for r in results if self.matches(r)]
        if required and not chosen:
            raise ConfigError(f"no results for the chosen --device/--model in run(s) {', '.join(run_ids)}"
                              if self.runs is not None else
                              "no stored results for the chosen --device/--model (run `edgeprof deploy` first)")
        return run_ids, chosen


def selected(store: StoreTarget, selection: Selection) -> list[Doc]:
    """The Results `selection` picks from the store at `store` (which must exist); ConfigError if none."""
    with open_store(store, create=False) as db:
        return selection.load(db)[1]


# ---------------------------------------------------------------- judging


def result_constraints(result: Doc, profile: DeviceProfile | None, project: ProjectFile | None,
                       cli: list[str]) -> list[Constraint]:
    """A Result's constraints from its device profile (None when it is gone), the project file and the CLI."""
    view = Result(result)
    return resolve_constraints(view.device, view.names, profile.constraints if profile else {},
                               str(profile.source) if profile else "", project, cli)


def apply_verdicts(result: Doc, profile: DeviceProfile | None, project: ProjectFile | None,
                   cli: list[str]) -> list[dict[str, Any]]:
    """Judge one Result as `deploy` and `check` do: its constraints (see result_constraints), the cost figure from
    the profile's [cost], emulation calibration from the profile; sets and returns result['verdicts'], and sets
    the top-1 accuracy's 95% interval (`accuracy.top1_ci95`, Result.top1_interval) for JSON readers."""
    result["cost"] = cost_section(result, profile.cost if profile else None)
    interval = Result(result).top1_interval
    if interval is not None:
        result["accuracy"]["top1_ci95"] = list(interval)
    calibrated = bool(profile and profile.emulation_calibrated)
    result["verdicts"] = judge(result, result_constraints(result, profile, project, cli),
                               calibrated_emulation=calibrated)
    return result["verdicts"]


def current_profiles(results: list[Doc]) -> tuple[dict[str, DeviceProfile | None], list[str]]:
    """Each device's current profile (None when its profile file is gone) and a note for each gone one."""
    known = profile_files()
    profiles: dict[str, DeviceProfile | None] = {}
    notes = []
    for name in dict.fromkeys(Result(r).device for r in results):
        profiles[name] = load_profile(name) if name in known else None
        if profiles[name] is None:
            notes.append(f"note: no device profile '{name}' any more: judged with the project file and --constraint "
                         "only")
    return profiles, notes


# ---------------------------------------------------------------- deploy


@dataclass
class Deployed:
    """One deploy: the report model of its judged Results (stored as `run_id`, None when there were none or the
    store refused them), each device's failure, and when the store refused them, why and the spool file that
    holds them."""

    report: Report
    failures: dict[str, Any]
    run_id: str | None
    store_error: str | None = None
    spooled: Path | None = None

    @property
    def results(self) -> list[Doc]:
        """The judged Results."""
        return self.report.results

    def exit_code(self, *, strict: bool) -> int:
        """3 if a device failed (2 if every failure was a configuration error), else 2 if the store refused the
        run, else 1 on a failed constraint (or inconclusive with strict), else 0."""
        if self.failures:
            return max(failure.exit_code for failure in self.failures.values())
        return EXIT_USAGE if self.store_error else exit_code(self.results, strict=strict)


def deploy_judge_store(profiles: list[DeviceProfile], artifacts: list[ModelArtifact],
                       references: dict[str, Reference], options: DeployOptions, project: ProjectFile | None,
                       constraints: list[str], store: StoreTarget, *, command: str,
                       on_event: Callable[[str, str, dict[str, Any]], None], jobs: int | None = None) -> Deployed:
    """Measure every artifact on every device, judge each Result, store them all as one run (`command` recorded).

    Two files that would share a label are told apart first (distinct_labels); the store is opened (and checked)
    before anything is measured, so an unusable one fails first; a store that fails when writing (locked, gone, full)
    leaves the run in a spool file (edgeprof.store.spool); Ctrl-C stores nothing.
    """
    artifacts = distinct_labels(artifacts)
    opening = time.perf_counter()
    db = open_store(store)
    store_s = time.perf_counter() - opening
    try:
        results, failures = run_deploy(profiles, artifacts, options, on_event, references=references, jobs=jobs)
    except KeyboardInterrupt:
        db.close()
        raise Interrupted("interrupted: the agents on the devices were stopped; nothing was stored") from None
    by_name = {p.name: p for p in profiles}
    for result in results:
        apply_verdicts(result, by_name[Result(result).device], project, constraints)
    report = build_report([storable(result) for result in results])
    with db:
        try:
            run_id = (db.save_run(report.results, command=printable(command), store_s=store_s)
                      if report.results else None)
        except StoreError as exc:
            path = spool_run(report.results, command=printable(command), store=db.location, error=str(exc))
            return Deployed(report, failures, None, f"{exc}: the results are spooled in {path}; "
                            "`edgeprof store flush` stores them", path)
    return Deployed(report, failures, run_id)


def distinct_labels(artifacts: list[ModelArtifact]) -> list[ModelArtifact]:
    """The artifacts, where different files would be stored under one model label (name, variant, format; say two
    files both called digits.onnx) named with as many of their folders as tell them apart ('x1/digits',
    'x2/digits'): their Results stay apart in the store, `history` and `compare`."""
    groups: dict[tuple[str, str, str], set[Path]] = {}
    for artifact in artifacts:
        groups.setdefault((artifact.name, artifact.variant, artifact.format), set()).add(artifact.path.resolve())
    names: dict[Path, str] = {}
    for (name, _, _), paths in groups.items():
        if len(paths) < 2:
            continue
        for depth in range(1, max(len(p.parts) for p in paths)):
            folders = {p: "/".join(p.parent.parts[-depth:]) for p in paths}
            if len(set(folders.values())) == len(paths):
                break
        else:  # one folder, names that differ only in case (digits.onnx, digits.ONNX): the whole path
            folders = {p: str(p) for p in paths}
        names.update({p: f"{printable(folder)}/{name}" for p, folder in folders.items()})
    return [replace(a, name=names.get(a.path.resolve(), a.name)) for a in artifacts]


def storable(doc: Any) -> Any:
    """A Result with every string printable (artifacts.printable): a file name's undecodable bytes survive as
    backslash escapes instead of failing the store."""
    if isinstance(doc, str):
        return printable(doc)
    if isinstance(doc, dict):
        return {key: storable(value) for key, value in doc.items()}
    if isinstance(doc, list):
        return [storable(value) for value in doc]
    return doc


# ---------------------------------------------------------------- check


DEFAULT_MAX_RATIO = 1.10
DEFAULT_MAX_DROP = 0.01


@dataclass
class Gate:
    """A run against a baseline: the comparisons per device x model variant (None without a baseline), the
    significant median latency slow-downs beyond the max ratio, the top-1 accuracy drops beyond the max drop."""

    comparisons: list[Comparison] | None
    regressions: list[Comparison]
    drops: list[Comparison]

    def exit_code(self, code: int) -> int:
        """`code` (the verdicts' exit code), made 1 by a regression or a drop unless something worse set it."""
        return EXIT_CONSTRAINT_FAILED if (self.regressions or self.drops) and code == EXIT_OK else code


def top1_drop(c: Comparison) -> float | None:
    """How far top-1 accuracy fell from the baseline (A) to B, in absolute terms (0.02 = two points)."""
    a, b = value_at(c.a, "accuracy.top1"), value_at(c.b, "accuracy.top1")
    return None if a is None or b is None else float(a) - float(b)


def baseline_gate(base: list[Doc] | None, results: list[Doc], *, max_ratio: float = DEFAULT_MAX_RATIO,
                  max_drop: float = DEFAULT_MAX_DROP, alpha: float) -> Gate:
    """The regression gate of `check --baseline` and `watch`: `results` against the baseline run's Results
    (None: no baseline, nothing fails)."""
    if base is None:
        return Gate(None, [], [])
    comparisons = compare_runs(base, results, alpha=alpha)
    drops = [c for c in comparisons if (top1_drop(c) or 0.0) > max_drop]
    return Gate(comparisons, regressions(comparisons, max_ratio), drops)


def stored_run(store: StoreTarget, ref: str) -> list[Doc]:
    """The Results of one stored run (an id, a unique prefix, a tag or 'latest'); ConfigError when none is."""
    with open_store(store, create=False) as db:
        return db.load_run(db.resolve_run(ref))


@dataclass
class Checked:
    """A stored run re-judged: the report model of its Results, the comparison with a baseline (None without one),
    what failed the baseline gate (Gate) and the verdict."""

    run_id: str
    report: Report
    comparisons: list[Comparison] | None
    regressions: list[Comparison]
    exit_code: int
    notes: list[str] = field(default_factory=list)
    drops: list[Comparison] = field(default_factory=list)

    @property
    def results(self) -> list[Doc]:
        """The re-judged Results."""
        return self.report.results


def check(store: StoreTarget, selection: Selection, project: ProjectFile | None, constraints: list[str], *,
          strict: bool = False, baseline: str | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
          max_drop: float = DEFAULT_MAX_DROP, alpha: float) -> Checked:
    """Re-judge one stored run with the current constraints; with a baseline, a significant median latency
    slow-down beyond `max_ratio` or a top-1 drop beyond `max_drop` fails it too (exit 1) unless something worse
    already did. A baseline that shares no measured device x model variant with the run is a ConfigError: a gate
    that compares nothing would pass silently."""
    with open_store(store, create=False) as db:
        (run_id,), results = selection.load(db)
        base = db.load_run(db.resolve_run(baseline)) if baseline else None
    profiles, notes = current_profiles(results)
    for result in results:
        apply_verdicts(result, profiles[Result(result).device], project, constraints)
    gate = baseline_gate(base, results, max_ratio=max_ratio, max_drop=max_drop, alpha=alpha)
    if base is not None and not gate.comparisons:
        raise ConfigError(f"--baseline {baseline}: {_holds(base)}, none of it measured like run {run_id} "
                          f"({_holds(results)}): the gate would compare nothing")
    return Checked(run_id, build_report(results), gate.comparisons, gate.regressions,
                   gate.exit_code(exit_code(results, strict=strict)), notes, gate.drops)


def _holds(results: list[Doc]) -> str:
    """What a run holds, for an error line: 'run 1a2b3c4d holds local / digits fp32 onnx, ...' (failed runs marked)."""
    runs = ", ".join(dict.fromkeys(str(r.get("run_id")) for r in results)) or "-"
    labels = [Result(r).label + ("" if Result(r).ok else " (failed)") for r in results]
    shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
    return f"run {runs} holds {shown or 'no results'}"


def _write(path: Path, text: str, what: str, *, append: bool = False) -> None:
    try:
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write: {exc.strerror}") from exc


def write_ci_reports(checked: Checked, *, junit: Path | None, markdown: Path | None, strict: bool) -> None:
    """The JUnit XML and Markdown summary where asked, and the summary appended to $GITHUB_STEP_SUMMARY if set."""
    if junit:
        _write(junit, to_junit(checked.results, strict=strict), "--junit")
    summary = to_markdown(checked.results)
    if markdown:
        _write(markdown, summary, "--markdown")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        _write(Path(os.environ["GITHUB_STEP_SUMMARY"]), summary + "\n", "$GITHUB_STEP_SUMMARY", append=True)


# ---------------------------------------------------------------- recommend, history, compare


def recommend_stored(store: StoreTarget, selection: Selection, project: ProjectFile | None,
                     constraints: list[str]) -> tuple[list[Recommendation], list[str]]:
    """Per device and model over the latest stored Result of each variant, judged again with the current
    constraints and cost model as `check` does, then decided as every report decides: the recommendations, and
    notes for devices whose profile is gone."""
    results = latest_variants(selected(store, selection))
    profiles, notes = current_profiles(results)
    for result in results:
        apply_verdicts(result, profiles[Result(result).device], project, constraints)
    return recommend(results), notes


def history(store: StoreTarget, selection: Selection, limit: int, plot: Path | None = None) -> list[dict[str, Any]]:
    """The newest `limit` matching Results as history rows (edgeprof.compare.history_rows), oldest first; with
    `plot`, their trend figure (edgeprof.report.trend) is written there too."""
    with open_store(store, create=False) as db:
        results = selection.load(db, required=False)[1][-limit:]
    if plot is not None:
        from edgeprof.report.trend import write_trend  # matplotlib: only when drawing

        write_trend(results, plot)
    return history_rows(results)


def compare(store: StoreTarget, run_a: str, run_b: str, *, alpha: float,
            min_effect: float) -> tuple[str, str, list[Comparison]]:
    """(run id A, run id B, B against A per device and model variant measured in both)."""
    with open_store(store, create=False) as db:
        a_id, b_id = db.resolve_run(run_a), db.resolve_run(run_b)
        return a_id, b_id, compare_runs(db.load_run(a_id), db.load_run(b_id), alpha=alpha, min_effect=min_effect)


def explain(store: StoreTarget, run_a: str, run_b: str, devices: tuple[str, ...], models: tuple[str, ...], *,
            alpha: float, min_effect: float) -> tuple[str, str, list[Explanation]]:
    """(run id A, run id B, why each pair of their Results differs: edgeprof.explain.explain_runs) over the Results
    of each run that pass --device/--model; ConfigError for an unknown run or a run with none of them."""
    with open_store(store, create=False) as db:
        (a_id,), a = Selection((run_a,), devices, models).load(db)
        (b_id,), b = Selection((run_b,), devices, models).load(db)
    return a_id, b_id, explain_runs(a, b, a_id=a_id, b_id=b_id, alpha=alpha, min_effect=min_effect)


# ---------------------------------------------------------------- figures and the report


def plot(store: StoreTarget, selection: Selection, out: Path, formats: str) -> list[Path]:
    """Write every figure of the selected Results into `out` in each of `formats` ('png,svg'); the paths."""
    from edgeprof.report.plots import make_plots, parse_formats  # matplotlib: only when drawing

    chosen = parse_formats(formats)
    return make_plots(build_report(selected(store, selection)), out, chosen)


REPORT_HISTORY = 200  # at most this many earlier Results of the reported configurations feed the trend figure


def report(store: StoreTarget, selection: Selection, out: Path, fmt_name: str | None) -> list[Path]:
    """Write the shareable report of the selected Results to `out` ('html' or 'md'; None: by its extension), with the stored history of
    the same configurations drawn over time; the files, report first."""
    from edgeprof.report.html import write_report  # matplotlib: only when drawing

    with open_store(store, create=False) as db:
        results = selection.load(db)[1]
        configurations = {Result(r).configuration for r in results}
        earlier = [doc for device, model in sorted({(c[0], c[1]) for c in configurations})
                   for doc in db.query(device=device, model=model)]
        history = sorted((r for r in earlier if Result(r).configuration in configurations),
                         key=lambda r: r.get("created") or "")[-REPORT_HISTORY:]
    return write_report(build_report(results), out, fmt_name, history=history)
