"""Several controllers writing one store at once: separate processes, every run stored whole, in one order."""

from __future__ import annotations

import subprocess
import sys

from edgeprof.store import open_store
from tests.store.helpers import raw

WRITER = """
import sys
from edgeprof.store import open_store
target, n = sys.argv[1], sys.argv[2]
with open_store(target) as db:
    for i in range(10):
        db.save_run([{"device": f"d{n}", "model": {"name": "m", "variant": str(i), "path": "m.onnx"},
                      "payload": "x" * 2000} for _ in range(3)], command=f"writer {n}")
"""


def test_concurrent_writer_processes(store_target: str) -> None:
    open_store(store_target).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, store_target, str(n)], stderr=subprocess.PIPE,
                                text=True) for n in range(4)]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read() if writer.stderr else ""
    with open_store(store_target, create=False) as db:
        runs = db.list_runs(limit=None)
        assert len(runs) == 40 and all(run.n_results == 3 for run in runs)
        assert len(db.query()) == 120
    seqs = [row[0] for row in raw(store_target, "SELECT seq FROM runs ORDER BY seq")]
    assert seqs == list(range(1, 41))
