"""A command-line parser with the conventions of Go's `flag` package.

td replaces a Go tool, so `td -api=:8888 -temporal=localhost:7233` has to keep working.
`-name=value`, `-name value`, `--name=value` and `--name value` all set a flag. A boolean is set
by `-name` alone or `-name=false`, never by `-name false`. Parsing stops at the first argument
that is not a flag, or after `--`. Each flag can also come from the environment.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class FlagError(Exception):
    """An unknown flag, a missing value or a value that does not parse."""


class HelpRequested(Exception):
    """`-h` or `-help` was given."""


def parse_bool(text: str) -> bool:
    """Parse a boolean the way Go's strconv.ParseBool does."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r}: use true or false")


@attrs.frozen
class Flag:
    """One flag: its name without dashes, its help text, and how its value is read."""

    name: str
    help: str
    # The default as it would be typed, parsed like any other value: "15s", "true".
    default: str = ""
    parse: Callable[[str], Any] = str
    is_bool: bool = False
    placeholder: str = "value"
    repeated: bool = False
    # Environment variables read after TD_<NAME>, for example TEMPORAL_ADDRESS.
    fallback_env: tuple[str, ...] = ()
    # False for a flag that requests an action, such as -version: a TD_VERSION that a deployment
    # sets for its own purposes must not turn td into a program that prints and exits.
    from_env: bool = True

    @property
    def env_names(self) -> tuple[str, ...]:
        if not self.from_env:
            return ()
        return ("TD_" + self.name.upper().replace("-", "_"), *self.fallback_env)


@attrs.define
class ParseResult:
    """Flag values by name, and the arguments after the last flag."""

    values: dict[str, Any]
    args: list[str]
    # Names of the flags set on the command line or in the environment, not left at the default.
    explicit: set[str]


def parse_flags(
    flags: Sequence[Flag],
    argv: Sequence[str],
    environ: Mapping[str, str],
) -> ParseResult:
    """Parse `argv` (without the program name) and the environment into flag values.

    Raises FlagError for an unknown flag, a missing value or a value that does not parse,
    and HelpRequested for `-h` and `-help`.
    """
    by_name = {flag.name: flag for flag in flags}
    values: dict[str, Any] = {}
    explicit: set[str] = set()

    args = list(argv)
    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break
        args.pop(0)
        if arg == "--":
            break

        name = arg[2:] if arg.startswith("--") else arg[1:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        name, has_value, value = name.partition("=")

        if name in ("h", "help") and name not in by_name:
            raise HelpRequested
        flag = by_name.get(name)
        if flag is None:
            raise FlagError(f"flag provided but not defined: -{name}")

        if flag.is_bool:
            text = value if has_value else "true"
        elif has_value:
            text = value
        elif args:
            text = args.pop(0)
        else:
            raise FlagError(f"flag needs an argument: -{name}")

        parsed = _parse_value(flag, text, source=f"-{name}")
        if flag.repeated:
            values.setdefault(name, []).append(parsed)
        else:
            values[name] = parsed
        explicit.add(name)

    for flag in flags:
        if flag.name in values:
            continue
        for env_name in flag.env_names:
            if env_name in environ:
                parsed = _parse_value(flag, environ[env_name], source=env_name)
                values[flag.name] = [parsed] if flag.repeated else parsed
                explicit.add(flag.name)
                break
        else:
            if flag.repeated:
                values[flag.name] = []
            else:
                # A boolean flag with no default is false, as in Go.
                default = flag.default or ("false" if flag.is_bool else "")
                values[flag.name] = _parse_value(flag, default, source=f"default of -{flag.name}")

    return ParseResult(values=values, args=args, explicit=explicit)


def _parse_value(flag: Flag, text: str, source: str) -> Any:
    reader = parse_bool if flag.is_bool else flag.parse
    try:
        return reader(text)
    except ValueError as error:
        raise FlagError(f"invalid value {text!r} for {source}: {error}") from None


def format_usage(program: str, flags: Sequence[Flag], synopsis: str = "[flags]") -> str:
    """Format the usage text: one block a flag, as Go's flag.PrintDefaults does."""
    lines = [f"Usage: {program} {synopsis}", "", "Flags:"]
    for flag in sorted(flags, key=lambda f: f.name):
        head = f"  -{flag.name}"
        if not flag.is_bool:
            head += f" {flag.placeholder}"
        lines.append(head)
        text = flag.help
        default = _format_default(flag)
        if default:
            text += f" (default {default})"
        lines.append(f"    \t{text}")
        if flag.env_names:
            lines.append(f"    \tenvironment: {', '.join(flag.env_names)}")
    return "\n".join(lines) + "\n"


def _format_default(flag: Flag) -> str:
    if flag.is_bool:
        return "true" if parse_bool(flag.default or "false") else ""
    if flag.repeated or not flag.default:
        return ""
    return f'"{flag.default}"'
