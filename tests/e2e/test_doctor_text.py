"""`doctor` as a person reads it: facts in words and units, and the profile's power method checked on the device."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def edgeprof(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_doctor_prints_no_python_reprs_and_names_a_power_method_with_nothing_to_read(tmp_path: Path) -> None:
    facts = json.loads(edgeprof("doctor", "--json").stdout)["facts"]
    missing = [method for method, why in facts["power_sensors"].items() if why]  # no board has every sensor
    method = missing[0]
    (tmp_path / "here.toml").write_text(f'description = "this machine"\nkind = "local"\n[power]\nmethod = "{method}"\n')
    proc = edgeprof("doctor", "--device", "here", env={"EDGEPROF_DEVICE_PATH": str(tmp_path), "COLUMNS": "300"})
    assert proc.returncode == 1, proc.stderr
    assert f"problem: the profile's power method '{method}' has nothing to read here" in proc.stdout
    assert "no problems found" not in proc.stdout
    for repr_sign in ("{", "}", "None", "True", "False", "'"):
        facts_part = proc.stdout.split("problem:")[0]
        assert repr_sign not in facts_part, (repr_sign, facts_part)
    assert "runtimes: onnxruntime " in proc.stdout and re.search(r"mem available: [0-9.]+ [kMG]B\n", proc.stdout)
