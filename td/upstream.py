"""The HTTP call that activities make to an upstream picture API, with Temporal's retry rules.

A timeout, a refused connection, 429 and 5xx raise a retryable ApplicationError, so Temporal
retries the activity with backoff. The caller decides what every other status means.
"""

import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

# A Retry-After longer than this is cut down: the activity's own timeout bounds the wait anyway.
MAX_RETRY_AFTER = timedelta(seconds=60)

# The picture APIs respond with a few kilobytes of JSON. A larger body is not one of their
# responses, and its text would travel into the execution's memo, which Temporal caps at 2 MiB.
MAX_BODY_SIZE = 256 * 1024
# Links longer than this are not the APIs' links, and Dispatch stores each one in its database.
MAX_LINK_LENGTH = 2048

# Errors that quote an upstream's text are cut to this many characters.
MAX_ERROR_LENGTH = 500

# Every error raised here is logged here first, in one line with the reason. BENIGN makes the
# SDK log it again only at debug level, without a traceback of td's own raise.
LOGGED = ApplicationErrorCategory.BENIGN

# The error type of a fault worth retrying; every other error an activity raises is final.
RETRYABLE = "UpstreamUnavailable"


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    service: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """GET `url` and return the status and the decoded JSON body.

    Raises a retryable ApplicationError on a network fault, a timeout, 429 or 5xx, or a body
    that is not JSON.
    """
    attempt = activity.info().attempt
    try:
        # No redirects: an answer that points elsewhere is not the API's answer.
        async with session.get(
            url, params=params, headers=headers, allow_redirects=False
        ) as response:
            status = response.status
            retry_after = response.headers.get("Retry-After")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > MAX_BODY_SIZE:
                    break
    except (aiohttp.ClientError, TimeoutError) as error:
        _count_call(service, "network_error")
        reason = str(error) or type(error).__name__
        activity.logger.warning("%s request failed (attempt %d): %s", service, attempt, reason)
        raise ApplicationError(
            f"{service} request failed: {reason}", type=RETRYABLE, category=LOGGED
        ) from error

    _count_call(service, _outcome(status))
    # Before the size check: a large error page of an overloaded server is still worth a retry.
    if status == 429 or status >= 500:
        delay = _parse_retry_after(retry_after)
        activity.logger.warning(
            "%s responded with HTTP %d (attempt %d), retry after %s",
            service,
            status,
            attempt,
            delay or "backoff",
        )
        raise ApplicationError(
            f"{service} responded with HTTP {status}",
            type=RETRYABLE,
            next_retry_delay=delay,
            category=LOGGED,
        )
    if len(body) > MAX_BODY_SIZE:
        raise final_error(
            f"{service} responded with HTTP {status} and more than {MAX_BODY_SIZE} bytes",
            "UpstreamError",
        )
    if 300 <= status < 400:
        raise final_error(
            f"{service} responded with HTTP {status}, a redirect, which td does not follow",
            "UpstreamError",
        )

    try:
        return status, json.loads(body)
    except RecursionError:
        # Only a hostile or broken server nests JSON this deeply, and it would do so again.
        raise final_error(
            f"{service} responded with HTTP {status} and JSON nested too deeply", "UpstreamError"
        ) from None
    except ValueError:
        activity.logger.warning(
            "%s responded with HTTP %d and a body that is not JSON", service, status
        )
        raise ApplicationError(
            f"{service} responded with HTTP {status} and a body that is not JSON",
            type=RETRYABLE,
            category=LOGGED,
        ) from None


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "success"


def _count_call(service: str, outcome: str) -> None:
    counter = activity.metric_meter().create_counter(
        "td_upstream_requests", "Calls to upstream APIs, by service and outcome"
    )
    counter.add(1, {"service": service, "outcome": outcome})


def _parse_retry_after(value: str | None) -> timedelta | None:
    """Parse Retry-After, given in seconds or as an HTTP date, and cap it at MAX_RETRY_AFTER."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Any value over the cap is the cap; a long digit string is not worth converting.
        delay = timedelta(seconds=int(value[:6]) if len(value) <= 6 else 10**6)
    else:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError, OverflowError):
            return None
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def check_link(url: object, service: str) -> str:
    """Return `url` if it is an http(s) URL of sane length; raise a final error if not."""
    if (
        not isinstance(url, str)
        or len(url) > MAX_LINK_LENGTH
        # The APIs send percent-encoded ASCII links. Control characters and lone surrogates
        # would travel to Dispatch, whose PostgreSQL database cannot store them.
        or not (url.isascii() and url.isprintable())
        or " " in url
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).netloc
    ):
        raise final_error(
            f"{service} sent {url!r:.200} where an http(s) link belongs", "UpstreamError"
        )
    return url


def final_error(message: str, error_type: str) -> ApplicationError:
    """Return an error that fails the activity at once, with no retry.

    The message often quotes an upstream's text, so it is cleaned and cut to MAX_ERROR_LENGTH
    first: it goes to td's log and to Dispatch as the instance's error.
    """
    message = clean_text(message, MAX_ERROR_LENGTH)
    # A warning: the workflow logs the failure of its step as an error, with the same text.
    activity.logger.warning(message)
    return ApplicationError(message, type=error_type, non_retryable=True, category=LOGGED)


def clean_text(value: object, limit: int) -> str:
    """Return `value` as text of at most `limit` characters, fit for a log line and for Dispatch.

    Control characters and line and paragraph separators become spaces, so that a text cannot
    forge a log line. Lone surrogates, which no UTF-8 database stores, become U+FFFD, and
    invisible format characters are dropped.
    """
    return "".join(_clean_char(char) for char in str(value)[:limit])


def _clean_char(char: str) -> str:
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return " "
    if category == "Cs":
        return "\ufffd"
    if category == "Cf":
        # Invisible format characters, such as the right-to-left override, which can make a
        # text display as something else in Dispatch.
        return ""
    return char
