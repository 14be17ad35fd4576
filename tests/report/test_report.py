"""The HTML/Markdown report and the `plot`/`report` commands, on a real SQLite store."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import edgeprof.cli.plot_cmds  # noqa: F401  (registers plot and report)
from edgeprof.cli import command_app
from edgeprof.decisions import Report
from edgeprof.errors import ConfigError
from edgeprof.report.html import report_format, to_html, write_report
from edgeprof.report.plots import build_plots
from edgeprof.store.sqlite import SQLiteStore
from edgeprof.units import duration, p_value
from edgeprof.verdicts import build_report
from tests.report.factory import make_result, small_set

app = command_app()  # every command registered

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEVICES = ("jetson-orin-nano", "pi4", "qemu-pi4")


class Page(HTMLParser):
    """Collects what a reader of the report sees: text, images, links, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "img":
            self.images.append(values)
        for key in ("src", "href"):
            if values.get(key) and not values[key].startswith(("data:", "#")):
                self.external.append(values[key])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_html_is_self_contained_embeds_every_figure_and_names_every_device() -> None:
    results = small_set()
    results[0]["warnings"] = ["<script>alert('x')</script> governor is 'powersave'"]
    plots = build_plots(Report(results))
    page = parse(to_html(Report(results), plots=plots))
    assert page.external == [] and "script" not in page.tags
    assert len(page.images) == len(plots) == 12
    for image, plot in zip(page.images, plots):
        assert image["alt"] == plot.caption
        assert base64.b64decode(image["src"].removeprefix("data:image/png;base64,")).startswith(PNG_MAGIC)
    text = "".join(page.text)
    for device in DEVICES:
        assert device in text
    assert "<script>alert('x')</script> governor" in text  # shown as text, not markup
    assert "emulated: qemu-tcg" in text and "estimate:utilisation" in text
    assert "RUN FAILED" in text and "unsupported operator <QLinearFoo>" in text
    assert "onnxruntime 1.32.0" in text and "governor performance" in text


def test_write_report_rejects_bad_format_and_empty_selection(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown report format 'pdf'"):
        write_report(Report(small_set()), tmp_path / "r.pdf", "pdf")
    with pytest.raises(ConfigError, match="no results"):
        write_report(Report([]), tmp_path / "r.html", "html")


@pytest.mark.parametrize(("name", "fmt", "expected"), [
    ("rep.md", None, "md"), ("REP.Markdown", None, "md"), ("rep.html", None, "html"), ("rep.htm", None, "html"),
    ("report", None, "html"), ("rep.txt", "md", "md"), ("rep.md", "md", "md"),
])
def test_the_report_format_follows_the_extension(name: str, fmt: str | None, expected: str) -> None:
    assert report_format(Path(name), fmt) == expected


def test_a_format_that_contradicts_the_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--format html contradicts --out .*rep.md"):
        write_report(Report(small_set()), tmp_path / "rep.md", "html")
    assert not (tmp_path / "rep.md").exists()
    (written, *figures) = write_report(Report(small_set()), tmp_path / "rep.md")
    assert written.read_text().startswith("#") and figures and all(f.suffix == ".png" for f in figures)


# ------------------------------------------------ through the CLI, on the real store


def test_plot_command_writes_filtered_figures(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    result = CliRunner().invoke(app, ["plot", "--latest", "--device", "pi4", "--format", "png,svg",
                                      "--out", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{stem}.{ext}" for stem in ("latency-pi4", "accuracy-pi4-mobilenet", "energy-pi4",
                                                        "timeline-pi4", "devices-mobilenet")
                           for ext in ("png", "svg"))
    assert (out / "latency-pi4.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_command_errors_are_one_line(store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["plot", "--out", str(tmp_path), "--format", "gif", "--store", str(store)])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    missing = runner.invoke(app, ["plot", "--out", str(tmp_path), "--device", "nope", "--store", str(store)])
    assert isinstance(missing.exception, ConfigError) and "no results" in str(missing.exception)
    both = runner.invoke(app, ["report", "--out", str(tmp_path / "r.html"), "--run", "latest", "--latest",
                               "--store", str(store)])
    assert isinstance(both.exception, ConfigError) and "choose one" in str(both.exception)
    unknown = runner.invoke(app, ["report", "--out", str(tmp_path / "r.html"), "--run", "nosuchrun",
                                  "--store", str(store)])
    assert isinstance(unknown.exception, ConfigError) and "nosuchrun" in str(unknown.exception)


def test_report_command_html_from_store(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--latest", "--out", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    page = parse(out.read_text())
    text = "".join(page.text)
    assert len(page.images) == 12 and page.external == []
    assert all(device in text for device in DEVICES)
    assert "pi4 / mobilenet: no variant meets every constraint" in text
    assert "not int8-static onnx: fails power.energy_mj <= 40 mJ (value 70.2 mJ)" in text
    assert "jetson-orin-nano / mobilenet: recommended int8-static onnx" in text
    assert "not int4-weird onnx: run failed: model_load: unsupported operator <QLinearFoo>" in text


def test_report_draws_the_stored_history_of_the_reported_configurations(store: Path, tmp_path: Path) -> None:
    """A second run of the same configurations: the report of the latest run adds the figure over time (one
    series per device and configuration), which a single run does not have (12 figures above)."""
    with SQLiteStore(store) as db:
        db.save_run(small_set(), command="edgeprof deploy (a second run)")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--latest", "--out", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    page = parse(out.read_text())
    assert len(page.images) == 13
    assert "Across devices and over time" in "".join(page.text)
    assert any(caption.startswith("Over time: p50/p95") for caption in page.text)


def test_report_command_markdown_with_pngs_beside(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.md"
    result = CliRunner().invoke(app, ["report", "--format", "md", "--out", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    links = [line[line.index("](") + 2:-1] for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 12
    for link in links:
        assert (out.parent / link).read_bytes().startswith(PNG_MAGIC)
    assert all(device in text for device in DEVICES)



@pytest.mark.parametrize("system, shown", [
    ({"cpu_model": "Cortex-A72", "cpu_count": 4, "governor": "performance", "freq_mhz": {"cur": 1500, "max": 1800}},
     "Cortex-A72 x4, governor performance, 1500/1800 MHz"),
    ({"cpu_model": "Xeon", "cpu_count": 2, "governor": None, "freq_mhz": {"cur": None, "max": None}},
     "Xeon x2, governor and clocks unknown"),
    ({"cpu_model": "Xeon", "cpu_count": 2, "governor": None, "freq_mhz": {"cur": 2000, "max": None}},
     "Xeon x2, 2000 MHz, governor unknown"),
    ({}, "CPU model unknown, governor and clocks unknown"),
])
def test_cpu_cell_shows_only_known_facts(system: dict[str, Any], shown: str) -> None:
    from edgeprof.report.html import cpu_text

    assert cpu_text(system) == shown


def test_details_say_not_meaningful_and_label_estimates_and_emulation() -> None:
    from edgeprof.report.details import result_rows
    from tests.report.factory import make_result

    result = make_result("qemu-pi4", "int8-static", emulated="qemu-tcg", power_method="estimate:utilisation")
    result["power"]["emulated"] = "qemu-tcg"
    result["accuracy"]["reference"] = {"meaningful": False, "reason": "the reference agrees with nothing: random "
                                       "inputs", "agreement_top1": 0.1}
    rows = dict(result_rows(result))
    assert rows["vs reference"] == "not meaningful: the reference agrees with nothing: random inputs"
    assert "(estimate:utilisation — an estimate, not a measurement) on an emulated device (qemu-tcg)" in rows["energy"]
    assert "(emulated:qemu-tcg — emulated, not a real board)" in rows["latency (95% CI)"]
    result["power"] = {"method": "none", "reason": "no power sensor"}
    assert dict(result_rows(result))["energy"] == "not measured: no power sensor"


def test_the_report_leads_with_the_answer_then_the_details() -> None:
    results = small_set()
    html = to_html(build_report(results), plots=[])
    answer, details = html.split('<section id="answer">')[1].split("</section>", 1)
    assert "<h2>Runs</h2>" in details and "<h3>Verdicts</h3>" in details and "Verdicts" not in answer
    for device in DEVICES:
        assert f"<h3>{device}</h3>" in answer
    assert "jetson-orin-nano / mobilenet: recommended int8-static onnx" in answer
    assert "What failed, and why" in answer
    assert "int4-weird onnx: run failed (" in answer  # the failed run, with its error
    assert "accuracy.top1: 0.840, needs &gt;= 0.85" in answer  # a failed constraint: its value and bound


def test_marks_are_explained_only_when_used_and_a_failed_verdict_says_why() -> None:
    html = to_html(build_report(small_set()), plots=[])  # estimated power and an emulated board
    details = html.split("</section>", 1)[1]
    assert "(est) = estimate" in details and "(emu) = measured under emulation" in details
    assert "needs &gt;= 0.85</td>" in details  # the verdicts table's why column of the failed top-1 row
    measured = [make_result("jetson-orin-nano", "fp32", power_method="sensor:jetson-ina3221")]
    plain = to_html(build_report(measured), plots=[])
    assert "(est) =" not in plain and "(emu) =" not in plain


@pytest.mark.parametrize(("p", "text"), [(0.0, "p < 0.001"), (3e-20, "p < 0.001"), (0.00099, "p < 0.001"),
                                         (0.001, "p = 0.001"), (0.0321, "p = 0.032"), (1.0, "p = 1")])
def test_a_p_value_is_never_printed_as_zero(p: float, text: str) -> None:
    assert p_value(p) == text


@pytest.mark.parametrize("width", [80, 140])
def test_history_at_80_and_140_columns_keeps_device_model_and_whole_figures(width: int) -> None:
    from rich.console import Console

    from edgeprof.compare import history_rows
    from edgeprof.report.history import history_table
    from tests.report.factory import big_set

    results = big_set()[:6]
    rows = history_rows(results)
    console = Console(width=width, record=True, color_system=None)
    console.print(history_table(rows, width))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text and "0…" not in text
    assert "device" in text and "model" in text and "p95" in text
    for row in rows:  # the run, its device and model (folded, never cut) and its p95 in the unit that suits it
        assert row["run_id"] in text and duration(row["figures"]["latency.p95_ms"]) in text
        assert row["device"][:12] in text and row["model"][:12] in text


def test_compare_at_80_columns_cuts_no_cell() -> None:
    from rich.console import Console

    from edgeprof.compare import compare_runs
    from edgeprof.report.history import comparison_table
    from tests.report.factory import big_set

    before = big_set()[:4]
    after = [make_result(r["device"], r["model"]["variant"], model=r["model"]["name"], median_ms=5.0 + i, seed=50 + i)
             for i, r in enumerate(before)]
    comparisons = compare_runs(before, after)
    console = Console(width=80, record=True, color_system=None)
    console.print(comparison_table("B / A", comparisons, 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for c in comparisons:
        assert f"x{c.ratios['latency.p95_ms']:.3f}" in text and f"x{c.latency.median_ratio:.3f}" in text
