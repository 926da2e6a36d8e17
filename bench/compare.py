"""td's API against the Temporal SDK calls it wraps, side by side in one run on one dev server.

- start: a Dispatch-style POST through td against Client.start_workflow, at 1, 10 and 50 in flight.
- follow: a Dispatch GET through td against describe() and reading the memo, which is what td
  does, for a running and a completed execution. A GET to bench.bare, a bare aiohttp handler
  that makes the same calls, tells the HTTP hop's cost apart from td's.
- memory: td's resident memory idle, and with 1000 executions waiting in timers.
- scale: start and follow latency with 10 and with 1000 open executions.

Everything runs on loopback and stops by itself. From the repository root:

    python -m bench.compare
"""

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from bench.loopback import wait_for_port
from td.converter import data_converter
from td.dispatch import WorkflowInstanceStatus
from td.workflows.base import PROGRESS_MEMO, Progress, WorkflowInput
from tests import upstreams
from tests.processes import free_port

QUEUE = "bench"
# Far beyond any run, so started executions stay open, waiting in their first timer.
LONG_DELAY = timedelta(hours=1)


class Ids:
    def __init__(self) -> None:
        self._next = random.randrange(1, 2**30)

    def __call__(self) -> int:
        self._next += 1
        return self._next


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until_idle(pid: int, limit: float = 300) -> None:
    """Wait until the process uses under 5% of a core over a second, or `limit` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(1)
        if cpu_seconds(pid) - before < 0.05:
            return


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def timed_batch(
    call: Callable[[], Awaitable[None]], count: int, in_flight: int
) -> tuple[list[float], float]:
    """Run `call` count times with in_flight at once; return the latencies and calls a second."""
    semaphore = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def one() -> None:
        async with semaphore:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return latencies, count / (time.perf_counter() - started)


class Bench:
    def __init__(
        self, td_url: str, bare_url: str, client: Client, http: aiohttp.ClientSession
    ) -> None:
        self.td_url = td_url
        self.bare_url = bare_url
        self.client = client
        self.http = http
        self.ids = Ids()

    async def td_start(self, delay: timedelta = LONG_DELAY) -> None:
        body = {"workflow_id": "random_dog", "params": {"workflowInstanceId": self.ids()}}
        async with self.http.post(self.td_url, json=body) as response:
            assert response.status == 201, await response.text()
            await response.read()

    async def direct_start(self, delay: timedelta = LONG_DELAY) -> None:
        # What td does for a POST, minus HTTP: the same input, memo and id policy.
        instance_id = self.ids()
        memo = {
            PROGRESS_MEMO: Progress(WorkflowInstanceStatus.CREATED, datetime.now(UTC)),
            "externalRef": None,
        }
        await self.client.start_workflow(
            "random_dog",
            WorkflowInput(instance_id=instance_id, params={}, step_delay=delay),
            id=f"random_dog-{instance_id}",
            task_queue=QUEUE,
            memo={key: value for key, value in memo.items() if value is not None},
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    async def td_follow(self, instance_id: int) -> None:
        query = [
            ("workflow_id", "random_dog"),
            ("tags", "workflowId:random_dog"),
            ("tags", f"workflowInstanceId:{instance_id}"),
        ]
        async with self.http.get(self.td_url, params=query) as response:
            assert response.status == 200, await response.text()
            await response.read()

    async def bare_follow(self, instance_id: int) -> None:
        async with self.http.get(
            self.bare_url, params={"id": f"random_dog-{instance_id}"}
        ) as response:
            assert response.status == 200, await response.text()
            await response.read()

    async def direct_follow(self, instance_id: int) -> None:
        description = await self.client.get_workflow_handle(f"random_dog-{instance_id}").describe()
        await description.memo_value(PROGRESS_MEMO, None, type_hint=Progress)


def summary(latencies: list[list[float]], rates: list[float]) -> dict[str, float]:
    medians = [statistics.median(batch) for batch in latencies]
    return {
        "median_ms": round(statistics.median(medians) * 1000, 2),
        "per_second": round(statistics.median(rates), 1),
    }


async def compare_start(bench: Bench, repetitions: int, count: int) -> dict:
    results = {}
    for in_flight in (1, 10, 50):
        runs: dict[str, tuple[list, list]] = {"td": ([], []), "direct": ([], [])}
        for repetition in range(repetitions):
            # Alternate which goes first, so neither always meets a warmer server.
            order = ["td", "direct"] if repetition % 2 == 0 else ["direct", "td"]
            for name in order:
                call = bench.td_start if name == "td" else bench.direct_start
                latencies, rate = await timed_batch(call, count, in_flight)
                runs[name][0].append(latencies)
                runs[name][1].append(rate)
        td, direct = summary(*runs["td"]), summary(*runs["direct"])
        results[f"{in_flight} in flight"] = {
            "td": td,
            "direct": direct,
            "latency_ratio": round(td["median_ms"] / direct["median_ms"], 2),
            "throughput_ratio": round(td["per_second"] / direct["per_second"], 2),
        }
    return results


async def compare_follow(bench: Bench, instance_id: int, repetitions: int, count: int) -> dict:
    follows = {"td": bench.td_follow, "bare": bench.bare_follow, "direct": bench.direct_follow}
    runs: dict[str, tuple[list, list]] = {name: ([], []) for name in follows}
    for repetition in range(repetitions):
        # Rotate which goes first, so that none always meets a warmer server.
        names = list(follows)
        order = names[repetition % 3 :] + names[: repetition % 3]
        for name in order:
            follow = follows[name]
            latencies, rate = await timed_batch(lambda follow=follow: follow(instance_id), count, 1)
            runs[name][0].append(latencies)
            runs[name][1].append(rate)
    td, bare, direct = (summary(*runs[name]) for name in ("td", "bare", "direct"))
    return {
        "td": td,
        "bare": bare,
        "direct": direct,
        "latency_ratio": round(td["median_ms"] / direct["median_ms"], 2),
        "bare_ratio": round(bare["median_ms"] / direct["median_ms"], 2),
        "td_over_bare": round(td["median_ms"] / bare["median_ms"], 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--count", type=int, default=100, help="calls per batch")
    parser.add_argument("--open", type=int, default=1000, help="open executions for scale/memory")
    options = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    temporal_port, api_port, bare_port = free_port(), free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="td-compare-"))
    temporal = subprocess.Popen(  # noqa: ASYNC220 - before anything is measured
        [str(bin_dir / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(temporal_port), "--db-filename", str(workdir / "temporal.db"),
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    td_log = (workdir / "td.log").open("wb")
    dog = upstreams.StandIn()
    dog_runner = await upstreams.start(upstreams.dog_app(dog), dog, "/api")
    td = bare = None
    try:
        await wait_for_port(temporal_port)
        # The worker runs too, so that memory counts executions in timers. Only the completed
        # execution calls the dog stand-in: every other one waits an hour before its first step.
        td = subprocess.Popen(  # noqa: ASYNC220 - before anything is measured
            [str(bin_dir / "td"), f"-api=127.0.0.1:{api_port}",
             f"-temporal=127.0.0.1:{temporal_port}", f"-queue={QUEUE}", "-log-level=warning",
             "-step-delay=1h", f"-dog-api={dog.base_url}"],
            stdout=td_log, stderr=td_log,
        )  # fmt: skip
        bare = subprocess.Popen(  # noqa: ASYNC220 - before anything is measured
            [sys.executable, "-m", "bench.bare", str(bare_port), f"127.0.0.1:{temporal_port}"],
        )
        await wait_for_port(api_port)
        await wait_for_port(bare_port)
        client = await Client.connect(f"127.0.0.1:{temporal_port}", data_converter=data_converter)
        url = f"http://127.0.0.1:{api_port}/workflow/"
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as http:
            bench = Bench(url, f"http://127.0.0.1:{bare_port}/follow", client, http)
            for _ in range(20):
                try:
                    await bench.td_start()
                    break
                except AssertionError:
                    await asyncio.sleep(0.5)
            await asyncio.sleep(2)
            idle_rss = rss_mib(td.pid)

            results: dict = {}
            running_id = bench.ids()
            bench.ids._next -= 1
            await bench.td_start()
            results["follow_running_few_open"] = await compare_follow(
                bench, running_id, options.repetitions, options.count
            )
            results["start_few_open"] = await compare_start(
                bench, options.repetitions, options.count // 2
            )

            # Fill up to --open executions waiting in timers, then measure again.
            open_now = 2 + 3 * options.repetitions * (options.count // 2) * 2
            if open_now < options.open:
                await timed_batch(bench.direct_start, options.open - open_now, 50)
            # The worker runs each new execution's first workflow task, which takes td's CPU for
            # a while; measure only once td is idle again.
            await wait_until_idle(td.pid)
            results["memory_mib"] = {
                "idle": round(idle_rss, 1),
                f"with {max(open_now, options.open)} open executions": round(rss_mib(td.pid), 1),
            }
            results["follow_running_many_open"] = await compare_follow(
                bench, running_id, options.repetitions, options.count
            )
            results["start_many_open"] = {
                "1 in flight": (
                    await compare_start(bench, options.repetitions, options.count // 2)
                )["1 in flight"]
            }

            # A completed execution: one with no step delay, which the worker runs at once.
            completed_id = bench.ids._next + 1
            await bench.direct_start(delay=timedelta(0))
            await client.get_workflow_handle(f"random_dog-{completed_id}").result()
            results["follow_completed"] = await compare_follow(
                bench, completed_id, options.repetitions, options.count
            )

        results["machine"] = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(json.dumps(results, indent=2))
    finally:
        for server in (td, bare):
            if server is not None:
                server.terminate()
                server.wait(30)
        temporal.terminate()
        temporal.wait(30)
        td_log.close()
        await dog_runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
