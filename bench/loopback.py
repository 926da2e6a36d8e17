"""Helpers that the benchmarks share: waiting for a server on loopback."""

import asyncio
import time


async def wait_for_port(port: int, limit: float = 30) -> None:
    """Wait until something accepts connections on 127.0.0.1:port; raise RuntimeError if not."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {limit} s")
