"""td.flags against the conventions of Go's flag package, and TD_<NAME> environment variables."""

from datetime import timedelta

import pytest

from td.duration import parse_duration
from td.flags import Flag, FlagError, HelpRequested, format_usage, parse_bool, parse_flags

FLAGS = (
    Flag("api", "host:port of the API", default="localhost:8888", placeholder="host:port"),
    Flag("count", "number of things", default="1", parse=int, placeholder="n"),
    Flag("verbose", "log more", default="false", is_bool=True),
    Flag("worker", "run the worker", default="true", is_bool=True),
    Flag("step-delay", "pause per step", default="15s", parse=parse_duration),
    Flag("tag", "a tag, repeatable", repeated=True, placeholder="tag"),
    Flag(
        "temporal",
        "Temporal frontend",
        default="localhost:7233",
        fallback_env=("TEMPORAL_ADDRESS",),
    ),
)


def parse(argv, environ=None):
    return parse_flags(FLAGS, argv, environ or {})


@pytest.mark.parametrize(
    "argv",
    [
        ["-api=example:1"],
        ["-api", "example:1"],
        ["--api=example:1"],
        ["--api", "example:1"],
    ],
)
def test_value_flag_forms(argv):
    result = parse(argv)

    assert result.values["api"] == "example:1"
    assert result.args == []


def test_value_keeps_later_equals():
    assert parse(["-api=a=b"]).values["api"] == "a=b"


def test_empty_value_allowed():
    result = parse(["-api="])

    assert result.values["api"] == ""
    assert "api" in result.explicit


def test_value_may_start_with_dash():
    result = parse(["-step-delay", "-1s"])

    assert result.values["step-delay"] == timedelta(seconds=-1)
    assert result.args == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-verbose"], True),
        (["--verbose"], True),
        (["-verbose=true"], True),
        (["-verbose=1"], True),
        (["-verbose=T"], True),
        (["--verbose=false"], False),
        (["-verbose=false"], False),
        (["-verbose=0"], False),
        (["-verbose=F"], False),
    ],
)
def test_bool_flag_forms(argv, expected):
    assert parse(argv).values["verbose"] is expected


def test_bool_false_can_clear_default():
    assert parse(["-worker=false"]).values["worker"] is False


def test_bool_space_value_is_positional():
    result = parse(["-worker", "false", "-count=2"])

    assert result.values["worker"] is True
    assert result.args == ["false", "-count=2"]
    assert result.values["count"] == 1


def test_double_dash_ends_flags():
    result = parse(["-count=2", "--", "-count=3", "x"])

    assert result.values["count"] == 2
    assert result.args == ["-count=3", "x"]


def test_lone_dash_is_positional():
    result = parse(["-", "-count=2"])

    assert result.args == ["-", "-count=2"]
    assert result.values["count"] == 1


def test_positional_stops_parsing():
    result = parse(["-count=2", "run", "-count=3"])

    assert result.values["count"] == 2
    assert result.args == ["run", "-count=3"]


def test_repeated_single_flag_last_wins():
    assert parse(["-count=2", "-count=3"]).values["count"] == 3


def test_unknown_flag_raises():
    with pytest.raises(FlagError, match="flag provided but not defined: -nope"):
        parse(["-nope=1"])


@pytest.mark.parametrize("argv", [["-api"], ["--api"], ["-count=2", "-api"]])
def test_missing_value_raises(argv):
    with pytest.raises(FlagError, match="flag needs an argument: -api"):
        parse(argv)


@pytest.mark.parametrize("arg", ["---api=x", "-=x", "--=x", "-=", "---"])
def test_bad_flag_syntax_raises(arg):
    with pytest.raises(FlagError, match="bad flag syntax"):
        parse([arg])


@pytest.mark.parametrize(
    ("argv", "source"),
    [
        (["-count=many"], "-count"),
        (["-count", "many"], "-count"),
        (["-verbose=maybe"], "-verbose"),
        (["-verbose="], "-verbose"),
        (["-step-delay=5"], "-step-delay"),
    ],
)
def test_invalid_value_names_flag(argv, source):
    with pytest.raises(FlagError) as caught:
        parse(argv)

    assert source in str(caught.value)


def test_invalid_value_shows_value():
    with pytest.raises(FlagError, match="'many'"):
        parse(["-count=many"])


@pytest.mark.parametrize("argv", [["-h"], ["-help"], ["--help"], ["--h"], ["-count=2", "-h"]])
def test_help_flag_raises_help(argv):
    with pytest.raises(HelpRequested):
        parse(argv)


def test_help_after_positional_ignored():
    assert parse(["run", "-h"]).args == ["run", "-h"]


def test_help_name_defined_by_caller():
    flags = [Flag("h", "host", placeholder="host")]

    result = parse_flags(flags, ["-h", "example"], {})

    assert result.values["h"] == "example"


def test_defaults_parsed():
    result = parse([])

    assert result.values["api"] == "localhost:8888"
    assert result.values["count"] == 1
    assert result.values["verbose"] is False
    assert result.values["worker"] is True
    assert result.values["step-delay"] == timedelta(seconds=15)
    assert result.values["tag"] == []
    assert result.values["temporal"] == "localhost:7233"
    assert result.args == []
    assert result.explicit == set()


def test_bool_flag_without_default_false():
    flags = [Flag("verbose", "log more", is_bool=True)]

    assert parse_flags(flags, [], {}).values["verbose"] is False


@pytest.mark.parametrize(
    ("name", "env_name"),
    [("api", "TD_API"), ("step-delay", "TD_STEP_DELAY"), ("dog-api", "TD_DOG_API")],
)
def test_env_name_from_flag(name, env_name):
    assert Flag(name, "").env_names == (env_name,)


def test_env_used_when_flag_absent():
    result = parse([], {"TD_COUNT": "5", "TD_STEP_DELAY": "300ms", "TD_VERBOSE": "true"})

    assert result.values["count"] == 5
    assert result.values["step-delay"] == timedelta(milliseconds=300)
    assert result.values["verbose"] is True


def test_empty_env_value_used():
    assert parse([], {"TD_API": ""}).values["api"] == ""


def test_command_line_wins_over_env():
    result = parse(["-count=2", "-verbose=false"], {"TD_COUNT": "5", "TD_VERBOSE": "true"})

    assert result.values["count"] == 2
    assert result.values["verbose"] is False


def test_fallback_env_used_without_td_var():
    result = parse([], {"TEMPORAL_ADDRESS": "temporal.example:7233"})

    assert result.values["temporal"] == "temporal.example:7233"
    assert "temporal" in result.explicit


def test_td_var_wins_over_fallback_env():
    environ = {"TD_TEMPORAL": "td.example:7233", "TEMPORAL_ADDRESS": "other.example:7233"}

    assert parse([], environ).values["temporal"] == "td.example:7233"


def test_command_line_wins_over_fallback_env():
    result = parse(["-temporal=flag.example:7233"], {"TEMPORAL_ADDRESS": "other.example:7233"})

    assert result.values["temporal"] == "flag.example:7233"


def test_fallback_env_other_flag_unaffected():
    assert parse([], {"TEMPORAL_ADDRESS": "t.example:7233"}).values["api"] == "localhost:8888"


@pytest.mark.parametrize(
    ("environ", "env_name"),
    [
        ({"TD_COUNT": "many"}, "TD_COUNT"),
        ({"TD_VERBOSE": "yes"}, "TD_VERBOSE"),
        ({"TD_STEP_DELAY": "15"}, "TD_STEP_DELAY"),
    ],
)
def test_invalid_env_value_names_var(environ, env_name):
    with pytest.raises(FlagError) as caught:
        parse([], environ)

    assert env_name in str(caught.value)


def test_invalid_fallback_env_names_var():
    flags = [Flag("count", "n", default="1", parse=int, fallback_env=("LEGACY_COUNT",))]

    with pytest.raises(FlagError, match="LEGACY_COUNT"):
        parse_flags(flags, [], {"LEGACY_COUNT": "many"})


def test_invalid_env_ignored_when_flag_given():
    assert parse(["-count=2"], {"TD_COUNT": "many"}).values["count"] == 2


def test_repeated_flag_collects_list():
    assert parse(["-tag=a", "-tag", "b", "--tag=c"]).values["tag"] == ["a", "b", "c"]


def test_repeated_flag_from_env():
    assert parse([], {"TD_TAG": "a"}).values["tag"] == ["a"]


def test_repeated_flag_command_line_wins():
    assert parse(["-tag=b"], {"TD_TAG": "a"}).values["tag"] == ["b"]


def test_explicit_excludes_defaults():
    result = parse(["-count=2", "-tag=a"], {"TD_API": ":9000"})

    assert result.explicit == {"count", "tag", "api"}


@pytest.mark.parametrize("text", ["1", "t", "T", "true", "TRUE", "True"])
def test_parse_bool_true(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "false", "FALSE", "False"])
def test_parse_bool_false(text):
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "yes", "no", "on", "tRUE", " true", "2"])
def test_parse_bool_invalid(text):
    with pytest.raises(ValueError, match="invalid boolean"):
        parse_bool(text)


def test_usage_header():
    assert format_usage("td", FLAGS).startswith("Usage: td [flags]\n\nFlags:\n")


def test_usage_custom_synopsis():
    assert format_usage("td", FLAGS, "[flags] name").startswith("Usage: td [flags] name\n")


def test_usage_flags_sorted():
    usage = format_usage("td", FLAGS)
    heads = [line.split()[0] for line in usage.splitlines() if line.startswith("  -")]

    assert heads == sorted(f"-{flag.name}" for flag in FLAGS)


def test_usage_value_flag_placeholder():
    lines = format_usage("td", FLAGS).splitlines()

    assert "  -api host:port" in lines
    assert "  -step-delay value" in lines


def test_usage_bool_flag_no_placeholder():
    lines = format_usage("td", FLAGS).splitlines()

    assert "  -verbose" in lines
    assert "  -worker" in lines


def test_usage_shows_defaults():
    usage = format_usage("td", FLAGS)

    assert 'host:port of the API (default "localhost:8888")' in usage
    assert "run the worker (default true)" in usage


def test_usage_hides_empty_defaults():
    usage = format_usage("td", FLAGS)

    assert "log more\n" in usage
    assert "a tag, repeatable\n" in usage


def test_usage_lists_env_vars():
    usage = format_usage("td", FLAGS)

    assert "environment: TD_STEP_DELAY\n" in usage
    assert "environment: TD_TEMPORAL, TEMPORAL_ADDRESS\n" in usage


def test_action_flag_ignores_environment():
    flags = [Flag("version", "", is_bool=True, from_env=False)]

    result = parse_flags(flags, [], {"TD_VERSION": "0.1.0"})

    assert result.values["version"] is False
    assert "environment" not in format_usage("td", flags)
