"""td's settings, read from flags and the environment by td.cli."""

import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@attrs.frozen
class Config:
    """Everything a td process needs to serve the API and run the worker."""

    # (host, port) of the HTTP API, or None for no API. An empty host listens on every interface.
    api: tuple[str, int] | None = ("localhost", 8888)
    temporal: str = "localhost:7233"
    namespace: str = "default"
    queue: str = "dispatch"
    worker: bool = True
    step_delay: timedelta = timedelta(seconds=15)
    dev: bool = False
    # Base URL of the Temporal Web UI, for links from Dispatch to each execution.
    ui: str | None = None
    dog_api: str = "https://dog.ceo/api"
    unsplash_api: str = "https://api.unsplash.com"
    unsplash_access_key: str | None = attrs.field(default=None, repr=False)
    # Keyword arguments for temporalio's Client.connect beside the address and namespace: the API
    # key, TLS and gRPC metadata from the TEMPORAL_* variables and the CLI's profile file.
    temporal_options: dict[str, Any] = attrs.field(factory=dict, repr=False)
    # The file of accepted Authorization header values, and one more value from TD_AUTH.
    auth_file: Path | None = None
    auth_value: str | None = attrs.field(default=None, repr=False)
    # host:port of the Prometheus listener, or None for no metrics.
    metrics: str | None = None
    list_workflows: bool = False
    log_level: str = "info"
    log_format: str = "text"
    # Serves the API over HTTPS when set.
    tls_context: ssl.SSLContext | None = attrs.field(default=None, repr=False, eq=False)


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse `host:port`, `:port` (every interface) or `[::1]:port`; raise ValueError otherwise."""
    host, colon, port_text = text.rpartition(":")
    if not colon:
        raise ValueError(f"invalid address {text!r}: expected host:port, for example :8888")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid address {text!r}: put an IPv6 host in brackets, [::1]:8888")
    if not port_text.isascii() or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port {port_text!r} in {text!r}: expected 0 to 65535")
    return host, int(port_text)


def parse_base_url(text: str) -> str:
    """Check that `text` is an http(s) URL and drop its trailing slash; raise ValueError if not."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"invalid URL {text!r}: expected http:// or https:// and a host")
    return text.rstrip("/")


def load_server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """Load a PEM certificate chain and key for HTTPS with TLS 1.2 or newer; raise ValueError."""
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise ValueError(f"the TLS {label} file {path} does not exist")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # Without a password callback, OpenSSL would prompt on the terminal for an encrypted key.
        context.load_cert_chain(cert, key, password=_reject_encrypted_key)
    except _EncryptedKey:
        raise ValueError(
            f"the TLS key {key} is encrypted: give td an unencrypted key, for example from "
            "`openssl pkey -in KEY -out PLAIN_KEY`"
        ) from None
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"cannot load the TLS certificate {cert} and key {key}: {error}") from None
    return context


class _EncryptedKey(Exception):
    pass


def _reject_encrypted_key() -> str:
    raise _EncryptedKey()
