"""The HTML report as people see it: opened in a real headless browser (Debian's chromium), every section
rendered, nothing logged as an error, and a screenshot kept as a CI artifact (.test-run/artifacts/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeprof.report.html import to_html
from edgeprof.verdicts import build_report
from tests.report.factory import small_set
from tests.support import REPO

ARTIFACTS = REPO / ".test-run" / "artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "no chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def browse(browser: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--enable-logging=stderr", "--v=0", f"--user-data-dir={page.parent / 'profile'}", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=180)


def console_errors(log: str) -> list[str]:
    """What the page wrote to its console (chromium logs each message as a CONSOLE line)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_the_report_renders_every_section_without_errors_in_a_browser(tmp_path: Path) -> None:
    browser = chromium()
    results = small_set()
    page = tmp_path / "report.html"
    page.write_text(to_html(build_report(results)), encoding="utf-8")
    dom = browse(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert rendered.index('id="answer"') < rendered.index("<h2>Runs</h2>") < rendered.index("Verdicts")
    for device in dict.fromkeys(r["device"] for r in results):
        assert f'id="device-{device}"' in rendered
    for heading in ("The answer", "What failed, and why", "Verdicts", "What ran, and how it was measured", "Figures",
                    "Across devices and over time"):
        assert heading in rendered, heading
    assert rendered.count("<img") >= 10
    assert console_errors(dom.stderr) == []
    broken = tmp_path / "broken.html"  # the check itself: a page that logs an error is caught
    broken.write_text('<html><body><script>console.error("broken page")</script></body></html>')
    assert any("broken page" in line for line in console_errors(browse(browser, broken, "--dump-dom").stderr))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    taken = browse(browser, page, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
