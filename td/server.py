"""Run td: the HTTP API and the Temporal worker in one process, until SIGINT or SIGTERM."""

import asyncio
import ipaddress
import logging
import signal
from urllib.parse import urlsplit

import attrs
from aiohttp import web

from td.api import create_app
from td.config import Config
from td.devserver import DevServer
from td.health import WorkerState
from td.logs import AccessLogger
from td.telemetry import install_runtime
from td.temporal import TemporalConnection
from td.worker import create_http_session, create_worker
from td.workflows import load_definitions
from td.workflows.base import WorkflowDefinition
from td.workflows.random_unsplash import ACCESS_KEY_VARIABLE

logger = logging.getLogger(__name__)

# A connection that sends no complete request for this many seconds is closed: one that was
# just opened, one that sends its headers slowly, and an idle keep-alive connection.
KEEPALIVE_TIMEOUT = 60.0
# In-flight HTTP requests get this long to finish when td stops.
API_SHUTDOWN_TIMEOUT = 5.0
# The worker's whole shutdown, its activities' 7 s grace included, ends within this many seconds,
# even when Temporal does not respond. The API stops at the same time, so td exits within 10 s.
WORKER_SHUTDOWN_TIMEOUT = 9.0


async def serve(config: Config) -> int:
    """Serve until SIGINT or SIGTERM, then stop gracefully; return the exit code."""
    try:
        install_runtime(config.log_level, config.metrics)
    except ValueError as error:
        # The SDK reports a metrics port it cannot bind as a ValueError.
        logger.error(
            "Serving metrics on %s failed: %s. Free the port or give -metrics another one.",
            config.metrics,
            error,
        )
        return 1
    definitions = load_definitions()
    stop = asyncio.Event()
    _install_signal_handlers(stop)

    dev_server: DevServer | None = None
    watcher: asyncio.Task[int] | None = None
    try:
        if config.dev:
            # Starting the dev server takes seconds, so a busy API port fails td before it starts.
            if config.api is not None and not await _can_listen(*config.api):
                return 1
            host, _, port = config.temporal.rpartition(":")
            dev_server = DevServer(host.strip("[]"), int(port), config.namespace)
            # A signal during the start sets `stop`, and td stops as soon as the server is up.
            await dev_server.start()
            config = attrs.evolve(
                config, temporal=dev_server.target, ui=config.ui or dev_server.ui_url
            )
            watcher = asyncio.create_task(_watch_dev_server(dev_server, stop))
        exit_code = await _serve(config, definitions, stop)
    finally:
        if watcher is not None and not watcher.done():
            watcher.cancel()
        if dev_server is not None:
            await dev_server.stop()
    if watcher is not None and watcher.done() and not watcher.cancelled():
        return 1
    return exit_code


async def _watch_dev_server(dev_server: DevServer, stop: asyncio.Event) -> int:
    """Stop td if the dev server it started exits while td still needs it."""
    exit_code = await dev_server.wait()
    logger.error(
        "The Temporal dev server exited with code %d, so td stops; see its log, %s",
        exit_code,
        dev_server.log_path,
    )
    stop.set()
    return exit_code


async def _serve(
    config: Config, definitions: dict[str, WorkflowDefinition], stop: asyncio.Event
) -> int:
    _warn_about_config(config)
    if config.metrics:
        logger.info("Prometheus metrics on http://%s/metrics", config.metrics)

    connection = TemporalConnection(config.temporal, config.namespace, config.temporal_options)
    connect_task = asyncio.create_task(connection.connect(), name="temporal-connect")

    worker_state = WorkerState(expected=config.worker)
    runner: web.AppRunner | None = None
    if config.api is not None:
        runner = create_runner(create_app(config, connection, definitions, worker_state))
        await runner.setup()
        host, port = config.api
        site = web.TCPSite(runner, host or None, port, ssl_context=config.tls_context)
        try:
            await site.start()
        except OSError as error:
            _log_cannot_listen(host, port, error)
            await runner.cleanup()
            connect_task.cancel()
            return 1
        scheme = "https" if config.tls_context else "http"
        # The bound port, which differs from the flag's when that asks for port 0.
        bound_port = runner.addresses[0][1] if runner.addresses else port
        logger.info("API listening on %s://%s:%d/workflow/", scheme, host or "0.0.0.0", bound_port)

    worker_task: asyncio.Task[None] | None = None
    if config.worker:
        worker_task = asyncio.create_task(
            _run_worker(connection, config, definitions, stop, worker_state),
            name="temporal-worker",
        )
        worker_task.add_done_callback(lambda _: stop.set())

    await stop.wait()
    logger.info("Stopping td")

    if runner is not None:
        await runner.cleanup()
    connect_task.cancel()
    exit_code = 0
    if worker_task is not None:
        try:
            await worker_task
        except Exception:
            exit_code = 1
    logger.info("td stopped")
    return exit_code


def create_runner(
    app: web.Application, keepalive_timeout: float = KEEPALIVE_TIMEOUT
) -> web.AppRunner:
    """Return the runner that serves `app`, with td's bounds on idle connections and shutdown."""
    return web.AppRunner(
        app,
        access_log_class=AccessLogger,
        shutdown_timeout=API_SHUTDOWN_TIMEOUT,
        # aiohttp's own default for a runner is an hour, which lets idle connections pile up.
        keepalive_timeout=keepalive_timeout,
    )


async def _can_listen(host: str, port: int) -> bool:
    """Bind host:port the way the API does, then release it.

    Log the error and return False if the bind fails.
    """
    try:
        probe = await asyncio.get_running_loop().create_server(asyncio.Protocol, host or None, port)
    except OSError as error:
        _log_cannot_listen(host, port, error)
        return False
    probe.close()
    await probe.wait_closed()
    return True


def _log_cannot_listen(host: str, port: int, error: OSError) -> None:
    logger.error(
        "Listening on %s:%d failed: %s. Free the port or give -api another one.", host, port, error
    )


async def _run_worker(
    connection: TemporalConnection,
    config: Config,
    definitions: dict[str, WorkflowDefinition],
    stop: asyncio.Event,
    worker_state: WorkerState,
) -> None:
    """Run the worker from the first connection to Temporal until `stop` is set."""
    stopped = asyncio.create_task(stop.wait())
    connected = asyncio.create_task(connection.wait_connected())
    await asyncio.wait({stopped, connected}, return_when=asyncio.FIRST_COMPLETED)
    if not connected.done():
        connected.cancel()
        return

    async with create_http_session() as session:
        try:
            worker = create_worker(connected.result(), config, definitions, session)
        except Exception:
            logger.exception("Creating the worker failed, so td stops")
            raise
        worker_state.worker = worker
        logger.info(
            "Worker polling task queue %s for %s", config.queue, ", ".join(sorted(definitions))
        )
        running = asyncio.create_task(worker.run())
        await asyncio.wait({stopped, running}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            stopped.cancel()
            if running.exception() is not None:
                logger.error("The worker failed, so td stops: %s", running.exception())
            running.result()
            return

        # shutdown() stops polling, gives running activities time to finish and returns once
        # the SDK's core has let go of the worker. A process that exits before then can crash
        # in the SDK's native threads.
        try:
            await asyncio.wait_for(worker.shutdown(), WORKER_SHUTDOWN_TIMEOUT)
            await running
            logger.info("Worker stopped")
        except TimeoutError:
            # Temporal does not respond, so nothing can be reported to it anyway.
            logger.error(
                "The worker did not stop within %.0f s, because Temporal does not respond; "
                "td exits without waiting for it",
                WORKER_SHUTDOWN_TIMEOUT,
            )


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signal_number, stop.set)
        except NotImplementedError:
            # Windows event loops have no add_signal_handler; Ctrl+C arrives as SIGINT here.
            signal.signal(signal_number, lambda *_: loop.call_soon_threadsafe(stop.set))


def _warn_about_config(config: Config) -> None:
    if config.api is not None and config.auth_file is None and not config.auth_value:
        host = config.api[0]
        if _is_loopback(host):
            logger.warning(
                "No API secret is configured: set -auth-file or TD_AUTH to the Authorization "
                "header that Dispatch sends"
            )
        else:
            logger.warning(
                "No API secret is configured and the API listens on %s, beyond loopback: anyone "
                "who reaches port %d can start workflows. Set -auth-file or TD_AUTH.",
                host or "every interface",
                config.api[1],
            )
    ui_host = urlsplit(config.ui).hostname if config.ui else None
    if ui_host and "." not in ui_host and not _is_ip_or_localhost(ui_host):
        logger.warning(
            "-ui %s has a host name without a dot, and Dispatch rejects such links as invalid "
            "URLs: give -ui a fully qualified host name or an IP address",
            config.ui,
        )
    if config.worker and not config.unsplash_access_key:
        logger.warning(
            "%s is not set, so random_unsplash fails; set it to an Unsplash API access key",
            ACCESS_KEY_VARIABLE,
        )


def _is_ip_or_localhost(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
