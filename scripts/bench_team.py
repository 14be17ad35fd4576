"""A team on one lab: (1) 4 controllers writing 50 results each to one PostgreSQL store at once: all 200 stored,
none duplicated, the time; (2) 3 controllers contending for 2 labgrid places: every run measured once, none on a
place its controller did not hold. Prints the figures; exits 1 if a check fails.

    .venv/bin/python scripts/bench_team.py [--controllers 4] [--results 50] [--lab-controllers 3] [--lab-runs 4]

Uses the loopback services scripts/test.sh exports ($EDGEPROF_TEST_SSHD_DIR, $EDGEPROF_TEST_PG_URL,
$LG_COORDINATOR), or starts the missing ones with scripts/*_loopback.sh in a temporary directory (and stops them).
Each controller is its own process (its own labgrid user name, `LG_USERNAME=ctrl-N`); results are real: part 1
stores copies of one Result measured on the loopback device, part 2 measures every run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.artifacts import load_artifact  # noqa: E402
from edgeprof.deploy import DeployOptions, LatencyBudget, deploy_device  # noqa: E402
from edgeprof.devices import load_profile  # noqa: E402
from edgeprof.lab import session  # noqa: E402
from edgeprof.store import open_store  # noqa: E402
from tests.support import trust_loopback_host, write_loopback_profile  # noqa: E402

SCRIPTS = REPO / "scripts"
MODEL = REPO / "models" / "digits" / "digits-fp32.onnx"
OPTIONS = DeployOptions(latency=LatencyBudget(min_runs=20, max_runs=200, min_seconds=0.2, max_seconds=0.4),
                        power_seconds=0.0, with_reference=False, lab_wait_s=300.0)


def env_lines(text: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in text.splitlines() if "=" in line)
    return {k: v.strip("'\"") for k, v in pairs}


def loopback(stack: ExitStack, work: Path, script: str, variable: str, *extra: str) -> tuple[Path | None, str]:
    """(run dir, value of `variable`) of a running loopback service, or of one started now in `work`
    (stopped when `stack` closes)."""
    if os.environ.get(variable):
        value = os.environ[variable]
        return (Path(value) if script == "sshd" else None), value
    run_dir, path = work / script, str(SCRIPTS / f"{script}_loopback.sh")
    subprocess.run(["bash", path, "start", str(run_dir), *extra], check=True, capture_output=True)
    stack.callback(subprocess.run, ["bash", path, "stop", str(run_dir)], check=False, capture_output=True)
    settings = env_lines(subprocess.run(["bash", path, "env", str(run_dir)], check=True, capture_output=True,
                                        text=True).stdout)
    return run_dir, settings.get(variable, str(run_dir))


def quiet(device: str, label: str, event: dict[str, Any]) -> None:
    return None


# ---------------------------------------------------------------- part 1: one store, many writers

def write_results(index: int, url: str, result: dict[str, Any], count: int, start: Any) -> None:
    """One controller: `count` runs of one Result each, marked (controller, n), as fast as the store takes them."""
    db = open_store(url)
    start.wait()
    with db:
        for n in range(count):
            db.save_run([{**result, "bench": {"controller": index, "n": n}}], command=f"bench_team ctrl-{index}")
    db.close()


def store_part(url: str, result: dict[str, Any], controllers: int, count: int) -> bool:
    before = {r["run_id"] for r in open_store(url).query()}
    start = multiprocessing.get_context("spawn").Event()
    procs = [multiprocessing.get_context("spawn").Process(target=write_results, args=(i, url, result, count, start))
             for i in range(controllers)]
    for proc in procs:
        proc.start()
    time.sleep(2.0)  # every controller has connected
    began = time.perf_counter()
    start.set()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - began
    stored = [r for r in open_store(url).query() if r["run_id"] not in before and "bench" in r]
    marks = [(r["bench"]["controller"], r["bench"]["n"]) for r in stored]
    expected = controllers * count
    ok = len(stored) == expected and len(set(marks)) == expected and all(p.exitcode == 0 for p in procs)
    print(f"store: {controllers} controllers x {count} results into one PostgreSQL store at once: "
          f"{len(stored)} stored, {len(marks) - len(set(marks))} duplicated, {elapsed:.2f} s "
          f"({len(stored) / elapsed:.0f} results/s) -> {'ok' if ok else 'FAILED'}")
    return ok


# ---------------------------------------------------------------- part 2: contended places

def holders(coordinator: str) -> dict[str, str | None]:
    """Place -> who holds it now, asked on a thread of its own (each thread keeps its own labgrid event loop)."""
    found: dict[str, str | None] = {}

    def ask() -> None:
        with session(coordinator) as lab:
            found.update({name: place.acquired for name, place in lab.refresh().items()})

    thread = threading.Thread(target=ask)
    thread.start()
    thread.join()
    return found


def contend(index: int, profiles: str, coordinator: str, runs: int, out: Any) -> None:
    """One controller (labgrid user ctrl-N): `runs` deploys to any place tagged board=loop. While its agent runs
    the coordinator is asked which place this controller holds; the Result must name that place."""
    os.environ["LG_USERNAME"] = f"ctrl-{index}"
    os.environ["EDGEPROF_DEVICE_PATH"] = profiles
    profile, artifact = load_profile("team"), load_artifact(MODEL)
    for run in range(runs):
        seen: list[str] = []

        def on_event(device: str, label: str, event: dict[str, Any]) -> None:
            if event.get("event") == "hello":  # the agent is up: the deploy is inside its place
                seen.extend(p for p, who in holders(coordinator).items() if (who or "").endswith(f"/ctrl-{index}"))

        start = time.perf_counter()
        results = deploy_device(profile, [artifact], OPTIONS, on_event)
        places = [r["lab"]["place"] for r in results]
        out.put({"controller": index, "run": run, "places": places, "held": bool(places) and seen == places,
                 "measured": sum(r.get("error") is None for r in results), "seconds": time.perf_counter() - start})


def lab_part(work: Path, sshd: dict[str, str], coordinator: str, controllers: int, runs: int) -> bool:
    profiles = work / "profiles"
    write_loopback_profile(profiles, sshd, name="team", known_hosts=trust_loopback_host(work / "known_hosts", sshd),
                           lab=f'tags = {{board = "loop"}}\ncoordinator = "{coordinator}"')
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    began = time.perf_counter()
    procs = [ctx.Process(target=contend, args=(i, str(profiles), coordinator, runs, out)) for i in range(controllers)]
    for proc in procs:
        proc.start()
    rows = [out.get(timeout=600) for _ in range(controllers * runs)]
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - began
    measured = sum(r["measured"] for r in rows)
    per_place = {p: sum(r["places"].count(p) for r in rows) for p in sorted({p for r in rows for p in r["places"]})}
    ok = (measured == controllers * runs and all(r["measured"] == 1 and len(r["places"]) == 1 for r in rows)
          and all(r["held"] for r in rows))
    print(f"places: {controllers} controllers x {runs} runs on 2 places: {measured} measured "
          f"(each once: {all(r['measured'] == 1 for r in rows)}), runs per place {per_place}, "
          f"every run on a place its controller held: {all(r['held'] for r in rows)}, {elapsed:.2f} s in all "
          f"-> {'ok' if ok else 'FAILED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", type=int, default=4)
    parser.add_argument("--results", type=int, default=50)
    parser.add_argument("--lab-controllers", type=int, default=3)
    parser.add_argument("--lab-runs", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-team-"))
    work.chmod(0o755)  # pg_loopback.sh runs the server as the postgres user
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        sshd_dir, _ = loopback(stack, work, "sshd", "EDGEPROF_TEST_SSHD_DIR")
        assert sshd_dir is not None
        sshd = env_lines((sshd_dir / "env").read_text())
        _, url = loopback(stack, work, "pg", "EDGEPROF_TEST_PG_URL")
        _, coordinator = loopback(stack, work, "labgrid", "LG_COORDINATOR", str(sshd_dir))
        write_loopback_profile(work / "one", sshd, name="one",
                               known_hosts=trust_loopback_host(work / "known_hosts", sshd))
        os.environ["EDGEPROF_DEVICE_PATH"] = str(work / "one")
        (result,) = deploy_device(load_profile("one"), [load_artifact(MODEL)], OPTIONS, quiet)
        ok = store_part(url, result, args.controllers, args.results)
        ok = lab_part(work, sshd, coordinator, args.lab_controllers, args.lab_runs) and ok
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
