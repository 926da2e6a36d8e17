"""What only the frozen binary can get wrong: finding files relative to itself.

tests/test_e2e.py runs the shared end-to-end tests against both the installed command and the
binary.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.frozen import BUILD_TIMEOUT
from tests.processes import Td, free_port


# The test may wait for the session's build, which counts toward its time limit.
@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_dev_finds_temporal_beside_binary(frozen_td, temporal_cli, td_env, tmp_path):
    # A release archive contains td alone, and a user may unpack the temporal CLI beside it.
    folder = tmp_path / "unpacked"
    folder.mkdir()
    binary = folder / "td"
    shutil.copy2(frozen_td, binary)
    os.symlink(temporal_cli, folder / "temporal")
    env = dict(td_env)
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry) / "temporal").exists()
    )
    assert shutil.which("temporal", path=env["PATH"]) is None

    td = Td(
        ["-dev", f"-temporal=127.0.0.1:{free_port()}"],
        env,
        tmp_path / "td.log",
        command=str(binary),
    )
    try:
        await td.wait_ready(limit=90)
    finally:
        try:
            exit_code = td.stop()
        except subprocess.TimeoutExpired:
            td.kill()
            raise

    assert exit_code == 0
    assert f"Starting the Temporal dev server: {folder / 'temporal'}" in td.log()


@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_killed_launcher_stops_td(frozen_td, td_args, td_env, tmp_path):
    # The binary's launcher runs td in a child process; SIGKILL reaches only the launcher.
    td = Td(td_args, td_env, tmp_path / "td.log", command=str(frozen_td))
    await td.wait_ready()
    pgrep = await asyncio.create_subprocess_exec(
        "pgrep", "-P", str(td.process.pid), stdout=asyncio.subprocess.PIPE
    )
    children = (await pgrep.communicate())[0].split()
    assert len(children) == 1

    child = int(children[0])

    td.process.kill()
    td.process.wait(10)
    for _ in range(100):
        if not is_running(child):
            break
        await asyncio.sleep(0.1)
    outlived = is_running(child)
    if outlived:
        os.kill(child, signal.SIGKILL)

    assert not outlived, f"td outlived its launcher:\n{td.log()}"


def is_running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
