"""Load test: N Dispatch-style starts with C in flight, each followed by Dispatch's polling.

Everything runs on loopback: a Temporal dev server, the dog.ceo stand-in and td itself, all
started and stopped by this script. It reports errors, distinct executions, and the p50/p99
latency of POST and GET. Run from the repository root:

    python -m bench.load -n 1000 -c 50
"""

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from temporalio.client import Client
from temporalio.service import RPCError

from bench.loopback import wait_for_port
from tests import upstreams
from tests.processes import free_port

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer load-test"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class Load:
    def __init__(self, url: str, count: int, concurrency: int, poll_interval: float) -> None:
        self.url = url
        self.count = count
        self.semaphore = asyncio.Semaphore(concurrency)
        self.poll_interval = poll_interval
        self.post_latencies: list[float] = []
        self.get_latencies: list[float] = []
        self.errors: list[str] = []
        self.final: dict[int, str] = {}

    async def run_instance(
        self, session: aiohttp.ClientSession, instance_id: int, deadline: float
    ) -> None:
        async with self.semaphore:
            body = {
                "workflow_id": "random_dog",
                "params": {"workflowInstanceId": instance_id, "externalRef": "https://d.example/x"},
            }
            started = time.perf_counter()
            async with session.post(self.url, json=body, headers=HEADERS) as response:
                answer = await response.json()
                self.post_latencies.append(time.perf_counter() - started)
                if response.status not in (200, 201) or "artifacts" not in answer:
                    self.errors.append(f"POST {instance_id}: {response.status} {answer}")
                    return

        query = [
            ("workflow_id", "random_dog"),
            ("tags", "workflowId:random_dog"),
            ("tags", f"workflowInstanceId:{instance_id}"),
        ]
        while time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval * random.uniform(0.8, 1.2))
            async with self.semaphore:
                started = time.perf_counter()
                async with session.get(self.url, params=query, headers=HEADERS) as response:
                    answer = await response.json()
                    self.get_latencies.append(time.perf_counter() - started)
            if response.status != 200 or "artifacts" not in answer:
                self.errors.append(f"GET {instance_id}: {response.status} {answer}")
                return
            if answer["status"] in ("Completed", "Failed"):
                self.final[instance_id] = answer["status"]
                return
        self.errors.append(f"instance {instance_id} did not finish before the time limit")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="number of workflow instances")
    parser.add_argument("-c", type=int, default=50, help="requests in flight at most")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between GETs")
    parser.add_argument("--step-delay", default="1s", help="td's -step-delay")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for the whole run")
    options = parser.parse_args()
    if not 0 < options.n <= 10_000 or not 0 < options.c <= 500:
        parser.error("-n must be 1 to 10000 and -c 1 to 500")

    temporal_cli = str(Path(sys.executable).parent / "temporal")
    td_command = str(Path(sys.executable).parent / "td")
    temporal_port, api_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="td-load-"))
    dog = upstreams.StandIn()
    dog_runner = await upstreams.start(upstreams.dog_app(dog), dog, "/api")
    # Started once, before any load, so a blocking Popen costs nothing that is measured.
    temporal = subprocess.Popen(  # noqa: ASYNC220
        [temporal_cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(temporal_port), "--db-filename", str(workdir / "temporal.db"),
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {**os.environ, "TD_AUTH": HEADERS["Authorization"]}
    td_log = (workdir / "td.log").open("wb")
    td = None
    try:
        await wait_for_port(temporal_port, 30)
        td = subprocess.Popen(  # noqa: ASYNC220
            [td_command, f"-api=127.0.0.1:{api_port}", f"-temporal=127.0.0.1:{temporal_port}",
             f"-step-delay={options.step_delay}", f"-dog-api={dog.base_url}"],
            env=env, stdout=td_log, stderr=td_log,
        )  # fmt: skip
        await wait_for_port(api_port, 30)
        await asyncio.sleep(2)

        url = f"http://127.0.0.1:{api_port}/workflow/"
        load = Load(url, options.n, options.c, options.poll_interval)
        first_id = random.randrange(1, 2**31 - options.n - 1)
        deadline = time.monotonic() + options.time_limit
        connector = aiohttp.TCPConnector(limit=options.c)
        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(
                *(load.run_instance(session, first_id + n, deadline) for n in range(options.n))
            )
        elapsed = time.perf_counter() - started

        client = await Client.connect(f"127.0.0.1:{temporal_port}")
        executions = 0
        for n in range(options.n):
            try:
                await client.get_workflow_handle(f"random_dog-{first_id + n}").describe()
                executions += 1
            except RPCError:
                pass

        report = {
            "instances": options.n,
            "concurrency": options.c,
            "seconds": round(elapsed, 1),
            "errors": len(load.errors),
            "distinct_executions": executions,
            "completed": sum(1 for status in load.final.values() if status == "Completed"),
            "post_count": len(load.post_latencies),
            "post_p50_ms": round(percentile(load.post_latencies, 0.5) * 1000, 1),
            "post_p99_ms": round(percentile(load.post_latencies, 0.99) * 1000, 1),
            "get_count": len(load.get_latencies),
            "get_p50_ms": round(percentile(load.get_latencies, 0.5) * 1000, 1),
            "get_p99_ms": round(percentile(load.get_latencies, 0.99) * 1000, 1),
            "get_mean_ms": round(statistics.mean(load.get_latencies) * 1000, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
        }
        print(json.dumps(report, indent=2))
        for error in load.errors[:10]:
            print("error:", error, file=sys.stderr)
    finally:
        if td is not None:
            td.send_signal(signal.SIGTERM)
            td.wait(30)
        temporal.terminate()
        temporal.wait(30)
        await dog_runner.cleanup()
        td_log.close()


if __name__ == "__main__":
    asyncio.run(main())
