"""Go's duration syntax (`300ms`, `1.5s`, `1h30m`), which td's flags keep from the Go tool."""

import re
from datetime import timedelta

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# Go's maximum duration: 2**63 - 1 nanoseconds, about 2562047 hours.
MAX_SECONDS = (2**63 - 1) / 1e9
_TERM = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration such as `15s`, `1.5s` or `2m30s`; raise ValueError if it is not one.

    As in Go, a bare `0` is allowed, every other number needs a unit, and a leading `+` or `-`
    sets the sign.
    """
    body = text
    sign = 1.0
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return timedelta(0)
    if not body:
        raise ValueError(f"invalid duration {text!r}")

    seconds = 0.0
    position = 0
    while position < len(body):
        match = _TERM.match(body, position)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected a number and a unit (ns, us, ms, s, m, h)"
            )
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    # Go's durations are int64 nanoseconds, so Go rejects anything longer, as td does.
    if seconds > MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r}: too long, the maximum is 2562047h")
    return timedelta(seconds=sign * seconds)


def format_duration(value: timedelta) -> str:
    """Format a duration the way Go prints one (`15s`, `1m30s`, `300ms`, `1µs`), exactly.

    timedelta counts whole microseconds, so the arithmetic is in integers and nothing rounds.
    """
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1000:
        return f"{sign}{micros}µs"
    if micros < 1_000_000:
        return f"{sign}{_decimal(micros, 1000)}ms"

    seconds, fraction = divmod(micros, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = ""
    if hours:
        text += f"{hours}h"
    if hours or minutes:
        text += f"{minutes}m"
    text += f"{_decimal(seconds * 1_000_000 + fraction, 1_000_000)}s"
    return sign + text


def _decimal(numerator: int, denominator: int) -> str:
    """Write numerator/denominator, a power of ten, as a decimal without trailing zeros."""
    whole, rest = divmod(numerator, denominator)
    if rest == 0:
        return str(whole)
    digits = len(str(denominator)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")
