"""Go duration syntax in td.duration, checked against what Go's time package accepts and prints."""

from datetime import timedelta

import pytest

from td.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300ms", timedelta(milliseconds=300)),
        ("1.5s", timedelta(seconds=1.5)),
        ("2m", timedelta(minutes=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2m30s", timedelta(minutes=2, seconds=30)),
        ("1h0m0s", timedelta(hours=1)),
        ("0", timedelta(0)),
        ("+0", timedelta(0)),
        ("-0", timedelta(0)),
        ("0s", timedelta(0)),
        ("+5s", timedelta(seconds=5)),
        ("-1s", timedelta(seconds=-1)),
        ("-1m30s", timedelta(minutes=-1, seconds=-30)),
        (".5s", timedelta(milliseconds=500)),
        ("1.s", timedelta(seconds=1)),
        ("1us", timedelta(microseconds=1)),
        ("1µs", timedelta(microseconds=1)),  # U+00B5 MICRO SIGN
        ("1μs", timedelta(microseconds=1)),  # U+03BC GREEK SMALL LETTER MU
        ("1500ns", timedelta(microseconds=1.5)),
        ("15s", timedelta(seconds=15)),
    ],
)
def test_parse_duration_valid(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "5",
        "s",
        "1x",
        "1.5",
        "1s2",
        ".",
        ".s",
        "-",
        "+",
        "--1s",
        "1 s",
        "1S",
        "1d",
        "1e3s",
        "\u0661s",  # ARABIC-INDIC DIGIT ONE: Go accepts only ASCII digits.
    ],
)
def test_parse_duration_invalid(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_error_names_text():
    with pytest.raises(ValueError, match="'1x'"):
        parse_duration("1x")


# What Go's time.Duration.String returns for each value.
GO_FORMATS = [
    (timedelta(0), "0s"),
    (timedelta(milliseconds=300), "300ms"),
    (timedelta(microseconds=1500), "1.5ms"),
    (timedelta(microseconds=1), "1µs"),
    (timedelta(seconds=1), "1s"),
    (timedelta(seconds=1.5), "1.5s"),
    (timedelta(seconds=15), "15s"),
    (timedelta(seconds=90), "1m30s"),
    (timedelta(hours=1), "1h0m0s"),
    (timedelta(hours=1, minutes=30), "1h30m0s"),
    (timedelta(hours=25), "25h0m0s"),
    (timedelta(seconds=-1), "-1s"),
    (timedelta(seconds=-90), "-1m30s"),
    (timedelta(milliseconds=-300), "-300ms"),
    (timedelta(seconds=12.345678), "12.345678s"),
    (timedelta(minutes=1, seconds=59, microseconds=999999), "1m59.999999s"),
]


@pytest.mark.parametrize(("value", "expected"), GO_FORMATS, ids=[text for _, text in GO_FORMATS])
def test_format_duration_like_go(value, expected):
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(milliseconds=300),
        timedelta(microseconds=123456),
        timedelta(seconds=1.5),
        timedelta(seconds=15),
        timedelta(minutes=2, seconds=30),
        timedelta(hours=1, minutes=30),
        timedelta(hours=26, minutes=3, seconds=4),
        timedelta(seconds=-1),
        timedelta(minutes=-2, seconds=-30),
        timedelta(seconds=12.345678),
        timedelta(minutes=1, seconds=59, microseconds=999999),
    ],
    ids=str,
)
def test_format_duration_round_trip(value):
    assert parse_duration(format_duration(value)) == value


def test_longer_than_go_allows_raises():
    assert parse_duration("2562047h") == timedelta(hours=2562047)
    with pytest.raises(ValueError, match="too long"):
        parse_duration("2562048h")
