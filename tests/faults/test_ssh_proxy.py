"""ssh_config's ProxyJump and ProxyCommand are honoured, as OpenSSH honours them, or refused in one line: never
skipped in favour of a straight connection to HostName.

The loopback sshd forbids TCP forwarding, so the jump host here is a second OpenSSH server (same keys) that
allows it; a TCP relay in front of it counts the connections that really went through the jump."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DIGITS, closed_port, trust_loopback_host, write_loopback_profile
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.ssh
FP32 = str(DIGITS / "digits-fp32.onnx")
FAST = ["--min-runs", "10", "--max-runs", "30", "--min-seconds", "0", "--max-seconds", "0.2", "--power-seconds", "0"]


@pytest.fixture(scope="module")
def jump_port(sshd: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A second loopback OpenSSH server that allows TCP forwarding (a jump host); its port."""
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("no /usr/sbin/sshd for a jump host")
    folder = tmp_path_factory.mktemp("jump")
    port = closed_port()
    keys = Path(sshd["EDGEPROF_TEST_SSH_KEY"]).parent
    (folder / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {keys / 'host_ed25519'}", "PidFile none",
        f"AuthorizedKeysFile {keys / 'authorized_keys'}", "UsePAM no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
        "StrictModes no", "AllowTcpForwarding yes", "LogLevel ERROR"]) + "\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(folder / "sshd_config"), "-E",
                               str(folder / "sshd.log")])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the jump sshd did not start: {(folder / 'sshd.log').read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def proxied_device(tmp_path: Path, sshd: dict[str, str], option: str, monkeypatch: pytest.MonkeyPatch,
                   jump_port: int | None = None) -> str:
    """A profile whose host `target` is 127.0.0.1 reached with ssh_config `option` (ProxyJump ..., ProxyCommand
    ...), the host key known for the loopback sshd (and, with `jump_port`, for the jump host); its name."""
    profiles = tmp_path / "profiles"
    known_hosts = trust_loopback_host(tmp_path / "known_hosts", sshd)
    if jump_port is not None:
        line = known_hosts.read_text().split(" ", 1)[1]
        known_hosts.write_text(known_hosts.read_text() + f"[127.0.0.1]:{jump_port} {line}")
    profile = write_loopback_profile(profiles, sshd, known_hosts=known_hosts)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host target\n  HostName 127.0.0.1\n  {option}\n")
    profile.write_text(profile.read_text().replace('host = "127.0.0.1"', f'host = "target"\nssh_config = "{config}"'))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    return "loop"


def deploy(device: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", device, "--model", FP32, *FAST,
                           "--store", str(tmp_path / "r.db")], capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)


def error_line(stderr: str) -> str:
    (line,) = [x for x in stderr.splitlines() if x.startswith("edgeprof: error:")]
    assert "Traceback" not in stderr
    return line


def test_a_deploy_goes_through_the_proxyjump_host(tmp_path: Path, sshd: dict[str, str], jump_port: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    relay = TcpProxy(jump_port)
    try:
        device = proxied_device(tmp_path, sshd, f"ProxyJump {sshd['EDGEPROF_TEST_SSH_USER']}@127.0.0.1:{relay.port}",
                                monkeypatch, jump_port=relay.port)
        proc = deploy(device, tmp_path)
    finally:
        relay.close()
    assert proc.returncode == 0, proc.stderr
    assert relay.accepted >= 1 and relay.upstream_bytes > 100_000, relay.upstream_bytes  # agent and model went by it


def test_an_unreachable_proxyjump_host_is_not_bypassed(tmp_path: Path, sshd: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    device = proxied_device(tmp_path, sshd, f"ProxyJump root@127.0.0.1:{closed_port()}", monkeypatch)
    proc = deploy(device, tmp_path)
    assert proc.returncode == 3
    line = error_line(proc.stderr)
    assert "ProxyJump root@127.0.0.1" in line and "connection refused" in line


def test_a_jump_host_that_may_not_forward_is_one_line(tmp_path: Path, sshd: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    device = proxied_device(tmp_path, sshd, f"ProxyJump root@127.0.0.1:{sshd['EDGEPROF_TEST_SSH_PORT']}",
                            monkeypatch)  # the loopback sshd itself: AllowTcpForwarding no
    proc = deploy(device, tmp_path)
    assert proc.returncode == 3
    assert "could not reach 127.0.0.1" in error_line(proc.stderr)


def test_a_proxycommand_carries_the_connection(tmp_path: Path, sshd: dict[str, str], jump_port: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if not shutil.which("ssh"):
        pytest.skip("no OpenSSH client for `ssh -W`")
    marker = tmp_path / "proxy-ran"
    command = (f"ProxyCommand sh -c 'touch {marker}; exec ssh -q -W %h:%p -p {jump_port} -i "
               f"{sshd['EDGEPROF_TEST_SSH_KEY']} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
               f"-o BatchMode=yes {sshd['EDGEPROF_TEST_SSH_USER']}@127.0.0.1'")
    proc = deploy(proxied_device(tmp_path, sshd, command, monkeypatch), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


def test_a_failing_proxycommand_is_one_line_and_not_bypassed(tmp_path: Path, sshd: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    device = proxied_device(tmp_path, sshd, "ProxyCommand sh -c 'echo no route to bastion >&2; exit 7'", monkeypatch)
    started = time.monotonic()
    proc = deploy(device, tmp_path)
    assert proc.returncode == 3 and time.monotonic() - started < 60
    line = error_line(proc.stderr)
    assert "ProxyCommand" in line and "exited with status 7: no route to bastion" in line


@pytest.mark.parametrize(("option", "words"), [
    ("ProxyJump a@127.0.0.1,b@127.0.0.1", "a chain of jump hosts is not supported"),
    ("ProxyJump root@127.0.0.1:notaport", "not [user@]host[:port]"),
])
def test_a_proxyjump_edgeprof_cannot_follow_is_one_line(tmp_path: Path, sshd: dict[str, str], option: str,
                                                        words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = deploy(proxied_device(tmp_path, sshd, option, monkeypatch), tmp_path)
    assert proc.returncode == 2 and words in error_line(proc.stderr)


def test_a_user_name_cannot_add_ssh_config_lines(tmp_path: Path, loopback_device: str) -> None:
    marker = tmp_path / "injected"
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", loopback_device, "--user",
                           f"root\n  ProxyCommand touch {marker}", "--model", FP32, *FAST, "--store",
                           str(tmp_path / "r.db")], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 2 and "a user name has no spaces or control characters" in error_line(proc.stderr)
    assert not marker.exists()
