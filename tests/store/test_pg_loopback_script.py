"""scripts/pg_loopback.sh from a checkout other users cannot enter (root's home is mode 700 on Debian): as root,
postgres gets a folder of its own, the checkout keeps the env file, and the server answers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.support import REPO


def test_the_loopback_postgres_starts_from_a_private_checkout(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        reason = "needs root and Debian's postgresql (the case of a checkout under /root)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    checkout = tmp_path / "home"
    (checkout / "scripts").mkdir(parents=True)
    checkout.chmod(0o700)
    script = Path(shutil.copy(REPO / "scripts" / "pg_loopback.sh", checkout / "scripts"))
    run_dir = checkout / ".test-run" / "pg"
    started = subprocess.run(["bash", str(script), "start", str(run_dir)], capture_output=True, text=True,
                             timeout=180)
    try:
        assert started.returncode == 0, started.stderr
        env = subprocess.run(["bash", str(script), "env", str(run_dir)], capture_output=True, text=True, timeout=30)
        url = env.stdout.strip().removeprefix("export EDGEPROF_TEST_PG_URL=")
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert not (run_dir / "data").exists()  # the server's files are postgres's, outside the private checkout
    finally:
        subprocess.run(["bash", str(script), "stop", str(run_dir)], capture_output=True, text=True, timeout=60)
    server = Path("/var/tmp") / f"edgeprof-pg-{hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]}"
    try:
        assert (server / "data" / "PG_VERSION").is_file()
        assert server.stat().st_mode & 0o777 == 0o700 and server.owner() == "postgres"
    finally:
        shutil.rmtree(server, ignore_errors=True)
