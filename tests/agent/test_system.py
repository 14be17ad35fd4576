"""Device metadata from /proc and /sys, read from fixture trees shaped like a Raspberry Pi and a busy PC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeprof.agent.doctor import doctor_facts
from edgeprof.agent.probes import memory, system

PI_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08

Hardware\t: BCM2835
Revision\t: c03111
Model\t\t: Raspberry Pi 4 Model B Rev 1.1
"""


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.fixture()
def pi(tmp_path: Path) -> Path:
    freq = "/sys/devices/system/cpu/cpu0/cpufreq/"
    return tree(tmp_path, {
        "/proc/cpuinfo": PI_CPUINFO,
        "/proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.1\x00",
        freq + "scaling_governor": "ondemand\n", freq + "scaling_cur_freq": "600000\n",
        freq + "cpuinfo_max_freq": "1500000\n",
        "/proc/stat": "cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 50 0 25 500 5 0 0 0 0 0\n",
    })


def test_a_pi_is_described_from_its_tree(pi: Path) -> None:
    section, warnings = system.system_section(str(pi), interval_s=0.0)
    assert section["board"] == "Raspberry Pi 4 Model B Rev 1.1"
    assert section["cpu_model"] == "Raspberry Pi 4 Model B Rev 1.1"
    assert section["governor"] == "ondemand" and section["freq_mhz"] == {"cur": 600.0, "max": 1500.0}
    assert section["cpu_busy_percent"] == 0.0  # a frozen /proc/stat: no ticks in between
    assert any("governor is 'ondemand'" in w for w in warnings)


def test_no_cpufreq_no_board_is_not_an_error(tmp_path: Path) -> None:
    section, warnings = system.system_section(str(tree(tmp_path, {"/proc/cpuinfo": "model name\t: Some x86\n"})),
                                              interval_s=0.0)
    assert section["board"] is None and section["governor"] is None and section["cpu_model"] == "Some x86"
    assert section["freq_mhz"] == {"cur": None, "max": None} and section["cpu_busy_percent"] is None
    assert not any("governor" in w for w in warnings)


def test_busy_cpu_is_measured_and_warned_about() -> None:
    """A real busy loop in a child process makes the real /proc/stat show a busy CPU."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child spins until killed
        while True:
            pass
    try:
        busy = system.cpu_busy_percent("/", 0.3)
        section, warnings = system.system_section("/", interval_s=0.3)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    cores = os.cpu_count() or 1
    assert busy is not None and busy >= 80.0 / cores
    if 100.0 / cores > system.BUSY_CPU_PERCENT:
        assert section["busy_warning"] and any("CPU" in w and "busy before the run" in w for w in warnings)


def test_peak_rss_sees_a_transient_allocation() -> None:
    before, now = memory.peak_rss_mb(), memory.rss_mb()
    assert now is not None
    block = bytearray(int(before - now + 64) * 1024 * 1024)  # zero-filled: every page touched
    del block
    assert memory.peak_rss_mb() >= before + 50
    assert memory.rss_mb() is not None and memory.mem_available_mb() is not None


def test_doctor_facts_describe_this_machine(tmp_path: Path) -> None:
    facts = doctor_facts(str(tmp_path))
    assert facts["runtimes"]["onnxruntime"] and facts["runtimes"]["ai-edge-litert"]
    assert facts["disk_free_mb"] > 0 and facts["cpu_count"] == os.cpu_count() and facts["psutil"] is True
