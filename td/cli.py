"""td's command line: Go-style flags, each also read from the environment as TD_<NAME>."""

import asyncio
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from td import __version__
from td.config import (
    LOG_FORMATS,
    LOG_LEVELS,
    Config,
    load_server_tls,
    parse_base_url,
    parse_host_port,
)
from td.duration import format_duration, parse_duration
from td.flags import Flag, FlagError, HelpRequested, format_usage, parse_flags

# Modules that import temporalio or aiohttp are imported where they are used, so that -version,
# -help and flag errors answer without loading them (about half a second on 2 cores).

DEFAULTS = Config()


def _parse_api(text: str) -> tuple[str, int] | None:
    return parse_host_port(text) if text else None


def _parse_step_delay(text: str) -> timedelta:
    delay = parse_duration(text)
    if delay.total_seconds() < 0:
        raise ValueError("the step delay cannot be negative")
    return delay


def _choice(name: str, choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"use one of {', '.join(choices)}")
        return text.lower()

    return parse


class SettingError(FlagError):
    """A flag's file or a Temporal setting from the environment is wrong, though well-formed."""


def _parse_metrics_address(text: str) -> str | None:
    if not text:
        return None
    host, port = parse_host_port(text)
    # The SDK's listener takes only an IP address: an empty host means every interface, as for
    # -api, and a name such as localhost is resolved here.
    if not host:
        host = "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise ValueError(f"cannot resolve the host {host!r}: {error}") from None
        host = found[0][4][0]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_address(text: str) -> str:
    host, _ = parse_host_port(text)
    if not host:
        raise ValueError(f"the host is missing in {text!r}: use host:port, like localhost:7233")
    return text


def _parse_name(text: str) -> str:
    if not text.strip():
        raise ValueError("cannot be empty")
    return text


# The Temporal server's default limit on the length of a task queue name, in characters.
MAX_QUEUE_LENGTH = 1000


def _parse_queue(text: str) -> str:
    name = _parse_name(text)
    if len(name) > MAX_QUEUE_LENGTH:
        raise ValueError(
            f"is {len(name)} characters long, and Temporal accepts at most {MAX_QUEUE_LENGTH}"
        )
    return name


FLAGS = (
    Flag(
        "api",
        "host:port of the HTTP API; :8888 listens on every interface, an empty value runs no API",
        default="localhost:8888",
        parse=_parse_api,
        placeholder="host:port",
    ),
    Flag(
        "temporal",
        "host:port of the Temporal frontend",
        default=DEFAULTS.temporal,
        parse=_parse_address,
        placeholder="host:port",
        fallback_env=("TEMPORAL_ADDRESS",),
    ),
    Flag(
        "namespace",
        "Temporal namespace",
        default=DEFAULTS.namespace,
        parse=_parse_name,
        placeholder="name",
        fallback_env=("TEMPORAL_NAMESPACE",),
    ),
    Flag(
        "queue",
        "Temporal task queue",
        default=DEFAULTS.queue,
        parse=_parse_queue,
        placeholder="name",
    ),
    Flag(
        "worker",
        "run the Temporal worker in this process; -worker=false runs the API alone",
        default="true",
        is_bool=True,
    ),
    Flag(
        "step-delay",
        "pause before each step of a workflow, as a Go duration: 300ms, 1.5s, 2m",
        default=format_duration(DEFAULTS.step_delay),
        parse=_parse_step_delay,
        placeholder="duration",
    ),
    Flag(
        "dev",
        "start a local Temporal dev server (the temporal CLI) and use it",
        default="false",
        is_bool=True,
    ),
    Flag(
        "ui",
        "base URL of the Temporal Web UI, to link each workflow instance to its execution",
        default="",
        placeholder="URL",
    ),
    Flag("dog-api", "base URL of the dog.ceo API", default=DEFAULTS.dog_api, placeholder="URL"),
    Flag(
        "unsplash-api",
        "base URL of the Unsplash API",
        default=DEFAULTS.unsplash_api,
        placeholder="URL",
    ),
    Flag(
        "auth-file",
        "file of accepted Authorization header values, one a line; re-read when it changes",
        placeholder="path",
    ),
    Flag("tls-cert", "PEM certificate chain: serve the API over HTTPS", placeholder="path"),
    Flag("tls-key", "PEM private key of -tls-cert", placeholder="path"),
    Flag(
        "log-level",
        f"lowest level logged: {', '.join(LOG_LEVELS)}",
        default="info",
        parse=_choice("log-level", LOG_LEVELS),
        placeholder="level",
    ),
    Flag(
        "log-format",
        "log as text for people or json for log systems, one object a line",
        default="text",
        parse=_choice("log-format", LOG_FORMATS),
        placeholder="format",
    ),
    Flag(
        "metrics",
        "host:port to serve Prometheus metrics on at /metrics; empty serves none",
        parse=_parse_metrics_address,
        placeholder="host:port",
    ),
    Flag(
        "list-workflows",
        "print the workflows and their parameters, then exit",
        default="false",
        is_bool=True,
        from_env=False,
    ),
    Flag("version", "print the version and exit", default="false", is_bool=True, from_env=False),
)

ENVIRONMENT_HELP = """
Commands:
  td run WORKFLOW [-param key=value ...] [-server URL] [-poll 1s] [-timeout 10m]
                       start a workflow through a running td, as Dispatch does, and follow it;
                       td run -h tells more

Environment:
  UNSPLASH_ACCESS_KEY  Unsplash API access key, needed by random_unsplash
  TD_AUTH              one more accepted Authorization header value, beside -auth-file
  TEMPORAL_*           Temporal connection settings read by the temporal CLI too: TEMPORAL_API_KEY,
                       TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
                       TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME,
                       TEMPORAL_PROFILE, and the profile file or TEMPORAL_CONFIG_FILE;
                       -temporal and -namespace take precedence
"""


def build_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config | None:
    """Build the Config from the arguments and the environment; None means print the version.

    Raises FlagError or HelpRequested.
    """
    result = parse_flags(FLAGS, argv, environ)
    if result.args:
        raise FlagError(f"unexpected argument: {result.args[0]}")
    values = result.values
    if values["version"]:
        return None

    urls = {}
    for name in ("ui", "dog-api", "unsplash-api"):
        if values[name]:
            try:
                urls[name] = parse_base_url(values[name])
            except ValueError as error:
                raise FlagError(f"invalid value for -{name}: {error}") from None
        else:
            urls[name] = None
    if urls["dog-api"] is None or urls["unsplash-api"] is None:
        raise FlagError("-dog-api and -unsplash-api cannot be empty")
    if values["api"] is None and not values["worker"]:
        raise FlagError("with -api= and -worker=false td would run nothing: keep one of them")

    temporal, namespace, temporal_options = _temporal_settings(values, result.explicit, environ)
    tls_context = None
    if values["tls-cert"] or values["tls-key"]:
        if not (values["tls-cert"] and values["tls-key"]):
            raise FlagError("-tls-cert and -tls-key go together: set both or neither")
        try:
            tls_context = load_server_tls(Path(values["tls-cert"]), Path(values["tls-key"]))
        except ValueError as error:
            raise SettingError(str(error)) from None

    auth_file = Path(values["auth-file"]) if values["auth-file"] else None
    if auth_file is not None:
        try:
            auth_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            # The error's text quotes a byte of the file, which may be part of a secret.
            raise SettingError(f"cannot read -auth-file {auth_file}: it is not UTF-8") from None
        except OSError as error:
            raise SettingError(f"cannot read -auth-file {auth_file}: {error}") from None

    return Config(
        api=values["api"],
        temporal=temporal,
        namespace=namespace,
        queue=values["queue"],
        worker=values["worker"],
        step_delay=values["step-delay"],
        dev=values["dev"],
        ui=urls["ui"],
        dog_api=urls["dog-api"],
        unsplash_api=urls["unsplash-api"],
        unsplash_access_key=environ.get("UNSPLASH_ACCESS_KEY") or None,
        temporal_options=temporal_options,
        auth_file=auth_file,
        # A blank value is no secret: it must not turn authentication on, or off, silently.
        auth_value=environ.get("TD_AUTH", "").strip() or None,
        tls_context=tls_context,
        log_level=values["log-level"],
        log_format=values["log-format"],
        list_workflows=values["list-workflows"],
        metrics=values["metrics"],
    )


def _utf8_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the variables that UTF-8 can encode: the SDK's core rejects the whole set otherwise.

    A variable of some other tool, or a TD_AUTH secret, may hold bytes that are not UTF-8, which
    Python keeps as lone surrogates.
    """
    usable = {}
    for name, value in environ.items():
        try:
            name.encode()
            value.encode()
        except UnicodeEncodeError:
            continue
        usable[name] = value
    return usable


def _temporal_settings(
    values: Mapping[str, Any], explicit: set[str], environ: Mapping[str, str]
) -> tuple[str, str, dict[str, Any]]:
    """Resolve the Temporal address, namespace and connection options.

    td's flags win; then the TEMPORAL_* variables and the profile file that the temporal CLI
    also reads (through temporalio.envconfig); then the defaults. `-dev` uses none of the
    profile, because the dev server has no TLS and no API keys.
    """
    if values["dev"]:
        return values["temporal"], values["namespace"], {}

    from temporalio.envconfig import ClientConfig

    try:
        profile: dict[str, Any] = dict(
            ClientConfig.load_client_connect_config(override_env_vars=_utf8_variables(environ))
        )
    except (OSError, ValueError, RuntimeError) as error:
        raise SettingError(f"invalid Temporal connection settings: {error}") from None

    address = profile.pop("target_host", None)
    namespace = profile.pop("namespace", None)
    if "temporal" in explicit or not address:
        address = values["temporal"]
    else:
        try:
            parse_host_port(address)
        except ValueError as error:
            raise SettingError(f"invalid Temporal address from the environment: {error}") from None
    if "namespace" in explicit or not namespace:
        namespace = values["namespace"]
    return address, namespace, profile


def main(argv: Sequence[str] | None = None) -> int:
    """Run td with `argv` (default: sys.argv[1:]) and return the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] == "run":
        from td.run import run_main

        return run_main(arguments[1:])
    usage = format_usage("td", FLAGS) + ENVIRONMENT_HELP
    try:
        config = build_config(arguments, os.environ)
    except HelpRequested:
        sys.stdout.write(usage)
        return 0
    except SettingError as error:
        # A file or a setting is wrong, not the command line: the usage would bury the message.
        sys.stderr.write(f"td: {error}\n")
        return 2
    except FlagError as error:
        sys.stderr.write(f"td: {error}\n{usage}")
        return 2
    if config is None:
        print(f"td {__version__}")
        return 0
    if config.list_workflows:
        from td.catalogue import format_catalogue
        from td.workflows import load_definitions

        print(format_catalogue(load_definitions()), end="")
        return 0

    from td.devserver import DevServerError
    from td.logs import configure_logging
    from td.server import serve

    configure_logging(config.log_level, config.log_format)

    try:
        exit_code = asyncio.run(serve(config))
    except DevServerError as error:
        logging.getLogger("td").error("td -dev failed: %s", error)
        exit_code = 1
    except KeyboardInterrupt:
        exit_code = 130

    # Everything is shut down by now, so skip the interpreter's finalization: threads of
    # temporalio's native core can still be alive then and abort the process with SIGABRT
    # ("PyGILState_Release: thread state must be current", temporalio/sdk-python issue 300).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
