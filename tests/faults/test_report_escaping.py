"""Text that comes from models and files (a file name, a node name) reaches Markdown as text, never as HTML, and
JUnit XML parses whatever characters a file name holds."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgeprof.report.escape import markdown_text, xml_text
from edgeprof.report.markdown import to_markdown
from tests.report.factory import on_accelerator
from tests.support import DIGITS
from tests.verdicts.factory import make

FAST = ["--min-runs", "10", "--max-runs", "30", "--min-seconds", "0", "--max-seconds", "0.2", "--power-seconds", "0"]
NASTY = "digits<img src=x onerror=alert(1)>\x01\x1b[31m"


def edgeprof(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd)


def test_a_nasty_model_file_name_is_text_in_markdown_and_junit(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    model = tmp_path / f"{NASTY}.onnx"
    model.write_bytes((DIGITS / "digits-fp32.onnx").read_bytes())
    store = str(tmp_path / "r.db")
    deployed = edgeprof("deploy", "--model", str(model), *FAST, "--store", store, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    checked = edgeprof("check", "--latest", "--junit", "j.xml", "--markdown", "s.md", "--store", store, cwd=tmp_path)
    assert checked.returncode in (0, 1), checked.stderr
    reported = edgeprof("report", "--latest", "--format", "md", "--out", "r.md", "--store", store, cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    for name in ("s.md", "r.md"):
        text = (tmp_path / name).read_text()
        assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img" not in text, name
        assert "\x01" not in text and "\x1b" not in text and "\\x01" in text
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None
    assert any("<img src=x onerror=alert(1)>\\x01" in case.get("classname", "") for case in suite.iter("testcase"))


def test_a_script_node_name_is_text_in_the_markdown_summary() -> None:
    result = on_accelerator(make(), ["openvino", "cpu"], compile_ms=5.0)
    result["placement"]["fallback_nodes"][0]["node"] = "<script>alert(1)</script>|x"
    text = to_markdown([result])
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in text


def test_the_escapes_keep_plain_text_and_mark_the_rest() -> None:
    assert markdown_text("digits-fp32 onnx @cpu (odd_hardmax)") == "digits-fp32 onnx @cpu (odd_hardmax)"
    assert markdown_text("a\\|b\nc&d") == "a\\\\\\|b c&amp;d"
    assert xml_text("ok\t\n\x01\udcff\ufffe") == "ok\t\n\\x01\\udcff\\ufffe"
