"""What the store tests share: a Result, raw SQL on either backend, the CLI in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from typing import Any

from edgeprof.agent.spec import ErrorKind, Stage
from edgeprof.result import build_result
from edgeprof.store import is_url


def result(device: str = "local", name: str = "digits", variant: str = "fp32", status: str = "ok") -> dict[str, Any]:
    """A Result as deploy builds it: one latency figure, or for status 'failed' an error and no figures."""
    error = {"kind": ErrorKind.MODEL_LOAD, "message": "unsupported operator", "stage": Stage.LOAD} \
        if status == "failed" else None
    return build_result(device_info={"name": device},
                        model={"name": name, "variant": variant, "path": f"models/{name}/{name}-{variant}.onnx"},
                        agent=None if error else {"latency": {"p95_ms": 1.0}}, error=error, timing={"stages": {}},
                        transfer={})


def raw(target: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run SQL on the store's database directly, outside edgeprof; the last statement's rows."""
    rows: list[tuple[Any, ...]] = []
    if is_url(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as db:
            for statement in statements:
                cursor = db.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
        return rows
    with sqlite3.connect(target) as db:
        for statement in statements:
            rows = db.execute(statement).fetchall()
    db.close()
    return rows


def edgeprof(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
