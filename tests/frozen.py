"""Build td into a single file with PyInstaller and build.spec, once per test session."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The build took about 30 s on 2 idle x86_64 cores. The limit leaves room for a loaded machine.
BUILD_TIMEOUT = 600.0

# Runs a test against the installed `td` and against the frozen binary. The frozen case may wait
# for the build to finish, which counts toward the test's time limit, so it gets a longer one.
BOTH_COMMANDS = pytest.mark.parametrize(
    "td_command",
    ["installed", pytest.param("frozen", marks=pytest.mark.timeout(BUILD_TIMEOUT))],
    indirect=True,
)


def runs_frozen(item: pytest.Item) -> bool:
    """Tell whether a collected test needs the frozen binary."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("td_command") == "frozen":
        return True
    return "frozen_td" in getattr(item, "fixturenames", ())


class FrozenBuild:
    """A `pyinstaller build.spec` run in the background, into a folder of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.binary = folder / "dist" / ("td.exe" if sys.platform == "win32" else "td")
        self.log_path = folder / "pyinstaller.log"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(self.folder / "dist"),
            "--workpath",
            str(self.folder / "build"),
            "build.spec",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def wait(self) -> str:
        """Wait for the build and return the binary's path, or fail the test if the build failed."""
        assert self._process is not None, "the frozen build was never started"
        try:
            exit_code = self._process.wait(BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"pyinstaller build.spec did not finish in {BUILD_TIMEOUT:.0f} s")
        if exit_code != 0 or not self.binary.is_file():
            log = self.log_path.read_text(errors="replace")
            pytest.fail(f"pyinstaller build.spec failed with exit code {exit_code}:\n{log}")
        return str(self.binary)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
