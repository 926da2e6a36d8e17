"""API authentication: the Authorization header that Dispatch's plugin sends on every request.

An operator configures the same header value in Dispatch and in td, for example
`Bearer <token>` or `Basic <base64>`. td accepts a request whose header equals one of the
configured values. Several values can be configured at once, so a secret can be rotated
without downtime: add the new value, switch Dispatch over, then remove the old one.
"""

import hmac
import logging
import os
import stat as stat_module
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)

# Paths that answer without authentication: probes for load balancers and orchestrators, and
# the API's description, which holds no secret.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})


# HTTP authentication schemes (IANA's registry, and the common Token and ApiKey), by lower case.
KNOWN_SCHEMES = {
    name.lower(): name
    for name in ("Basic", "Bearer", "Digest", "Negotiate", "Token", "ApiKey", "HOBA", "Mutual")
}


class AuthFileError(Exception):
    """The file of accepted Authorization values cannot be read."""


class Credentials:
    """The accepted Authorization header values, from a file that is re-read when it changes.

    The file has one value a line; blank lines and lines starting with `#` are ignored.
    """

    def __init__(self, path: Path | None = None, value: str | None = None) -> None:
        self.path = path
        # surrogateescape: a value from the environment may hold bytes that are not UTF-8.
        self._value = value.strip().encode("utf-8", "surrogateescape") if value else None
        self._file_values: list[bytes] = []
        self._file_stamp: tuple[int, int] | None = None
        self._last_error: str | None = None
        if path is not None:
            try:
                self._reload(os.stat(path))
            except UnicodeDecodeError:
                raise AuthFileError(f"cannot read the auth file {path}: it is not UTF-8") from None
            except OSError as error:
                raise AuthFileError(f"cannot read the auth file {path}: {error}") from error
            if not self._file_values and not self._value:
                logger.warning(
                    "The auth file %s holds no value, so every request is rejected", path
                )

    @property
    def configured(self) -> bool:
        return self.path is not None or bool(self._value)

    def accepted_values(self) -> list[bytes]:
        """Return every accepted value, re-reading the file first if it changed."""
        if self.path is not None:
            self._refresh()
        values = list(self._file_values)
        if self._value:
            values.append(self._value)
        return values

    def accepts(self, header: str | None) -> bool:
        """Tell whether `header` equals an accepted value, comparing in constant time."""
        if not header:
            return False
        offered = header.strip().encode("utf-8", "surrogateescape")
        matched = False
        # Compare against every value, with no early exit, so timing reveals nothing.
        for value in self.accepted_values():
            matched |= hmac.compare_digest(offered, value)
        return matched

    def schemes(self) -> list[str]:
        """Return the authentication schemes of the accepted values, for WWW-Authenticate.

        Only registered scheme names are returned: the first word of a value without a scheme,
        such as a bare token, is the secret itself, and this goes to clients without one.
        """
        schemes = set()
        for value in self.accepted_values():
            words = value.split(None, 1)
            # A value that is one word is all secret, even if that word is a scheme's name.
            if len(words) == 2 and words[0].decode(errors="replace").lower() in KNOWN_SCHEMES:
                schemes.add(KNOWN_SCHEMES[words[0].decode().lower()])
        return sorted(schemes) or ["Bearer"]

    def _refresh(self) -> None:
        """Re-read the file if it changed. Keep the values read last if it cannot be read."""
        assert self.path is not None
        try:
            stat = os.stat(self.path)
            if (stat.st_mtime_ns, stat.st_size) != self._file_stamp:
                self._reload(stat)
        except (OSError, UnicodeDecodeError) as error:
            # A file that is being replaced may be missing briefly. Log once per distinct error,
            # not on every request. A decoding error's text quotes a byte of the file, which may
            # be part of a secret, so it is not logged.
            message = "it is not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)
            if message != self._last_error:
                logger.error(
                    "Reading the auth file %s failed, keeping its last values: %s",
                    self.path,
                    message,
                )
                self._last_error = message
            return
        self._last_error = None

    def _reload(self, stat: os.stat_result) -> None:
        assert self.path is not None
        if not stat_module.S_ISREG(stat.st_mode):
            # Reading a FIFO or a device could block td forever.
            raise OSError(f"{self.path} is not a regular file")
        text = self.path.read_text(encoding="utf-8")
        self._file_values = list(_parse_lines(text.splitlines()))
        self._file_stamp = (stat.st_mtime_ns, stat.st_size)
        # The count only: the values are secrets.
        logger.info(
            "Accepted Authorization values read from %s: %d", self.path, len(self._file_values)
        )


def _parse_lines(lines: Iterable[str]) -> Iterable[bytes]:
    for line in lines:
        value = line.strip()
        if value and not value.startswith("#"):
            yield value.encode()


def auth_middleware(credentials: Credentials) -> Callable:
    """Return a middleware that rejects requests without an accepted Authorization header."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        offered = request.headers.getall("Authorization", [])
        # One header only: with several, a proxy and td could each read a different one.
        if request.path in OPEN_PATHS or (len(offered) == 1 and credentials.accepts(offered[0])):
            return await handler(request)

        reason = "missing" if not offered else "not accepted"
        if len(offered) > 1:
            reason = "sent more than once"
        logger.warning(
            "Rejected %s %s from %s: Authorization header %s",
            request.method,
            # As sent, still percent-encoded, so that a decoded line break cannot forge a log line.
            request.raw_path,
            request.remote,
            reason,
        )
        challenge = ", ".join(f'{scheme} realm="td"' for scheme in credentials.schemes())
        return web.json_response(
            {
                "error": f"the Authorization header is {reason}: send the value configured in td",
                "field": "Authorization",
                "artifacts": [],
            },
            status=401,
            headers={"WWW-Authenticate": challenge},
        )

    return middleware
