"""The Temporal client connection, made in the background and retried until Temporal answers.

td starts and serves its API while Temporal is down: requests get 503 until the connection is
up, and nobody has to restart td once Temporal is back.
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from td.converter import data_converter

logger = logging.getLogger(__name__)

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 30.0


class TemporalUnavailable(Exception):
    """Temporal cannot be reached now; the request may be retried later."""


class TemporalConnection:
    """A Temporal client that connects in the background, with backoff between attempts."""

    def __init__(
        self, target: str, namespace: str, options: Mapping[str, Any] | None = None
    ) -> None:
        self.target = target
        self.namespace = namespace
        # More Client.connect arguments: api_key, tls, rpc_metadata.
        self._options = dict(options or {})
        self._client: Client | None = None
        self._connected = asyncio.Event()
        self._last_error: str | None = None

    @property
    def client(self) -> Client:
        """The connected client; raises TemporalUnavailable before the first connection."""
        if self._client is None:
            # The last attempt's error distinguishes a server that is down from a missing
            # namespace or a TLS mismatch.
            cause = f"; the last attempt failed: {self._last_error}" if self._last_error else ""
            raise TemporalUnavailable(f"not connected to Temporal at {self.target} yet{cause}")
        return self._client

    async def wait_connected(self) -> Client:
        """Wait until connect() has succeeded and return the client."""
        await self._connected.wait()
        return self.client

    async def connect(self) -> Client:
        """Connect, retrying with backoff from 1 s to 30 s until Temporal answers."""
        backoff = INITIAL_BACKOFF
        attempt = 1
        while True:
            try:
                client = await Client.connect(
                    self.target,
                    namespace=self.namespace,
                    data_converter=data_converter,
                    **self._options,
                )
                # Connecting checks the server but not the namespace, so check it here: a
                # missing namespace would otherwise make every workflow look not found.
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace)
                )
            except (RuntimeError, RPCError) as error:
                self._last_error = str(error)
                logger.warning(
                    "Connecting to Temporal at %s (namespace %s) failed, attempt %d, "
                    "retrying in %.0f s: %s",
                    self.target,
                    self.namespace,
                    attempt,
                    backoff,
                    error,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                attempt += 1
                continue

            logger.info("Connected to Temporal at %s, namespace %s", self.target, self.namespace)
            self._client = client
            self._connected.set()
            return client
