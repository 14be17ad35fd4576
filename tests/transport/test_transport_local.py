"""open_transport and the local transport's own choices: where its work dir is, what a bad kind says."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.devices import Connection
from edgeprof.errors import ConfigError, DeviceError
from edgeprof.transport import open_transport
from edgeprof.transport.local import LocalTransport


def test_local_work_dir_defaults_to_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("EDGEPROF_CACHE", raising=False)
    with open_transport("here", "local", None) as transport:
        assert transport.work_dir == str(tmp_path / ".cache" / "edgeprof" / "local")
        assert oct(Path(transport.work_dir).stat().st_mode & 0o777) == "0o700"
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    with open_transport("here", "local", None) as transport:
        assert transport.work_dir == str(tmp_path / "cache" / "local")


def test_local_work_dir_from_the_connection(tmp_path: Path) -> None:
    with open_transport("here", "local", Connection(host="localhost", work_dir=str(tmp_path / "w"))) as transport:
        assert transport.work_dir == str(tmp_path / "w")


def test_a_work_dir_that_cannot_be_created_is_a_device_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DeviceError, match="device 'here': cannot create work dir"):
        LocalTransport("here", blocker / "w").connect()


def test_a_missing_program_is_exit_127(tmp_path: Path) -> None:
    with LocalTransport("here", tmp_path) as transport:
        assert transport.run(["no-such-program-xyz"]).exit_code == 127
        with pytest.raises(DeviceError, match="cannot start 'no-such-program-xyz'"):
            transport.start(["no-such-program-xyz"])


def test_open_transport_rejects_bad_profiles() -> None:
    with pytest.raises(ConfigError, match="unknown kind 'serial'"):
        open_transport("board", "serial", None)
    with pytest.raises(ConfigError, match="kind 'ssh' but no \\[connection\\]"):
        open_transport("board", "ssh", None)
