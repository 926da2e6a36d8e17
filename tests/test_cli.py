"""td's command line: build_config, and main's paths that exit before serving.

A main() call that builds a valid Config starts the server and ends the process with os._exit,
so these tests call main() only with -h, -version or an invalid command line.
"""

import os
from datetime import timedelta

import pytest

from td import __version__
from td.cli import build_config, main
from td.config import Config
from td.flags import FlagError, HelpRequested

_ENV_PREFIXES = ("TD_", "TEMPORAL_")


@pytest.fixture(autouse=True)
def profile_dir(monkeypatch, tmp_path):
    """Point temporalio.envconfig at an empty config directory instead of the user's own."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "temporalio"


def write_profile(profile_dir, text):
    profile_dir.mkdir(parents=True, exist_ok=True)
    (profile_dir / "temporal.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def clean_environ(monkeypatch):
    """Remove the variables that td reads, so main() reads settings from the command line only."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name == "UNSPLASH_ACCESS_KEY":
            monkeypatch.delenv(name)


def test_defaults_match_config():
    assert build_config([], {}) == Config()


def test_go_style_command_line():
    config = build_config(["-api=:8888", "-temporal=localhost:7233", "-queue=dispatch"], {})

    assert config.api == ("", 8888)
    assert config.temporal == "localhost:7233"
    assert config.queue == "dispatch"


def test_empty_api_runs_no_api():
    assert build_config(["-api="], {}).api is None


def test_empty_api_from_env():
    assert build_config([], {"TD_API": ""}).api is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[::1]:9000", ("::1", 9000)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("example.com:65535", ("example.com", 65535)),
        (":8888", ("", 8888)),
    ],
)
def test_api_addresses(text, expected):
    assert build_config([f"-api={text}"], {}).api == expected


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["-api=8888"], "-api"),
        (["-api=host:99999"], "-api"),
        (["-api=::1:80"], "-api"),
        (["-api=host:"], "-api"),
        (["-api=host:-1"], "-api"),
        (["-temporal=localhost"], "-temporal"),
        (["-temporal="], "-temporal"),
        (["-worker=maybe"], "-worker"),
        (["-step-delay=15"], "-step-delay"),
        (["-step-delay=-1s"], "-step-delay"),
        (["-ui=ftp://temporal.example"], "-ui"),
        (["-ui=localhost:8080"], "-ui"),
        (["-dog-api=dog.ceo/api"], "-dog-api"),
        (["-unsplash-api=https://"], "-unsplash-api"),
    ],
)
def test_invalid_values_raise(argv, flag):
    with pytest.raises(FlagError) as caught:
        build_config(argv, {})

    assert flag in str(caught.value)


@pytest.mark.parametrize("flag", ["-dog-api", "-unsplash-api"])
def test_empty_upstream_url_raises(flag):
    with pytest.raises(FlagError, match="cannot be empty"):
        build_config([f"{flag}="], {})


def test_step_delay_duration():
    assert build_config(["-step-delay=1.5s"], {}).step_delay == timedelta(seconds=1.5)


def test_step_delay_zero_allowed():
    assert build_config(["-step-delay=0"], {}).step_delay == timedelta(0)


def test_negative_step_delay_message():
    with pytest.raises(FlagError, match="cannot be negative"):
        build_config(["-step-delay", "-1s"], {})


def test_queue_from_env():
    assert build_config([], {"TD_QUEUE": "other"}).queue == "other"


def test_queue_flag_wins_over_env():
    assert build_config(["-queue=flag"], {"TD_QUEUE": "env"}).queue == "flag"


def test_step_delay_from_env():
    config = build_config([], {"TD_STEP_DELAY": "300ms"})

    assert config.step_delay == timedelta(milliseconds=300)


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {"TEMPORAL_ADDRESS": "fallback.example:7233"}, "fallback.example:7233"),
        (
            ["-temporal=flag.example:7233"],
            {"TEMPORAL_ADDRESS": "fallback.example:7233"},
            "flag.example:7233",
        ),
        (
            [],
            {"TD_TEMPORAL": "td.example:7233", "TEMPORAL_ADDRESS": "fallback.example:7233"},
            "td.example:7233",
        ),
    ],
)
def test_temporal_address_precedence(argv, environ, expected):
    assert build_config(argv, environ).temporal == expected


def test_invalid_temporal_address_env_named():
    with pytest.raises(FlagError, match="TEMPORAL_ADDRESS"):
        build_config([], {"TEMPORAL_ADDRESS": "no-port"})


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {"TEMPORAL_NAMESPACE": "fallback"}, "fallback"),
        (["-namespace=flag"], {"TEMPORAL_NAMESPACE": "fallback"}, "flag"),
        ([], {"TD_NAMESPACE": "td", "TEMPORAL_NAMESPACE": "fallback"}, "td"),
    ],
)
def test_temporal_namespace_precedence(argv, environ, expected):
    assert build_config(argv, environ).namespace == expected


PROFILE = """
[profile.default]
address = "profile.example:7233"
namespace = "profile-namespace"
"""


def test_profile_file_used(profile_dir):
    write_profile(profile_dir, PROFILE)

    config = build_config([], {})

    assert config.temporal == "profile.example:7233"
    assert config.namespace == "profile-namespace"


def test_flags_win_over_profile_file(profile_dir):
    write_profile(profile_dir, PROFILE)

    config = build_config(["-temporal=flag.example:7233", "-namespace=flag"], {})

    assert config.temporal == "flag.example:7233"
    assert config.namespace == "flag"


def test_td_env_wins_over_profile_file(profile_dir):
    write_profile(profile_dir, PROFILE)

    config = build_config([], {"TD_TEMPORAL": "td.example:7233", "TD_NAMESPACE": "td"})

    assert config.temporal == "td.example:7233"
    assert config.namespace == "td"


def test_dev_ignores_profile_file(profile_dir):
    write_profile(profile_dir, PROFILE)

    config = build_config(["-dev"], {"TEMPORAL_API_KEY": "temporal-key-123"})

    assert config.temporal == "localhost:7233"
    assert config.namespace == "default"
    assert config.temporal_options == {}


def test_invalid_profile_address_raises(profile_dir):
    write_profile(profile_dir, '[profile.default]\naddress = "no-port"\n')

    with pytest.raises(FlagError, match="invalid Temporal address"):
        build_config([], {})


@pytest.mark.parametrize(
    "environ",
    [
        {"TEMPORAL_PROFILE": "missing"},
        {"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.pem"},
    ],
)
def test_invalid_temporal_settings_raise(environ):
    with pytest.raises(FlagError, match="invalid Temporal connection settings"):
        build_config([], environ)


def test_temporal_api_key_in_options():
    config = build_config([], {"TEMPORAL_API_KEY": "temporal-key-123"})

    assert config.temporal_options["api_key"] == "temporal-key-123"


def test_temporal_api_key_not_in_repr():
    config = build_config([], {"TEMPORAL_API_KEY": "temporal-key-123"})

    assert "temporal-key-123" not in repr(config)


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["-worker=false"], {}, False),
        (["-worker"], {}, True),
        ([], {"TD_WORKER": "false"}, False),
        (["-worker=true"], {"TD_WORKER": "false"}, True),
    ],
)
def test_worker_flag(argv, environ, expected):
    assert build_config(argv, environ).worker is expected


def test_dev_flag():
    assert build_config(["-dev"], {}).dev is True


def test_ui_trailing_slash_dropped():
    config = build_config(["-ui=http://localhost:8233/"], {})

    assert config.ui == "http://localhost:8233"


def test_ui_path_kept():
    config = build_config(["-ui=https://temporal.example/ui/"], {})

    assert config.ui == "https://temporal.example/ui"


def test_ui_default_none():
    assert build_config([], {}).ui is None


def test_upstream_trailing_slash_dropped():
    config = build_config(
        ["-dog-api=http://127.0.0.1:9000/api/", "-unsplash-api=http://127.0.0.1:9001/"], {}
    )

    assert config.dog_api == "http://127.0.0.1:9000/api"
    assert config.unsplash_api == "http://127.0.0.1:9001"


def test_unsplash_key_from_env():
    config = build_config([], {"UNSPLASH_ACCESS_KEY": "secret-key-123"})

    assert config.unsplash_access_key == "secret-key-123"


def test_unsplash_key_not_in_repr():
    config = build_config([], {"UNSPLASH_ACCESS_KEY": "secret-key-123"})

    assert "secret-key-123" not in repr(config)


def test_empty_unsplash_key_none():
    assert build_config([], {"UNSPLASH_ACCESS_KEY": ""}).unsplash_access_key is None


def test_auth_value_from_env():
    assert build_config([], {"TD_AUTH": "Bearer td-token-123"}).auth_value == "Bearer td-token-123"


def test_auth_value_not_in_repr():
    config = build_config([], {"TD_AUTH": "Bearer td-token-123"})

    assert "td-token-123" not in repr(config)


def test_auth_file_path_kept(tmp_path):
    auth_file = tmp_path / "auth"
    auth_file.write_text("Bearer td-token-123\n", encoding="utf-8")

    assert build_config([f"-auth-file={auth_file}"], {}).auth_file == auth_file


def test_missing_auth_file_raises(tmp_path):
    with pytest.raises(FlagError, match="cannot read -auth-file"):
        build_config([f"-auth-file={tmp_path / 'missing'}"], {})


@pytest.mark.parametrize("flag", ["-tls-cert", "-tls-key"])
def test_tls_flags_need_each_other(flag, tmp_path):
    with pytest.raises(FlagError, match="-tls-cert and -tls-key go together"):
        build_config([f"{flag}={tmp_path / 'file.pem'}"], {})


def test_missing_tls_files_raise(tmp_path):
    argv = [f"-tls-cert={tmp_path / 'cert.pem'}", f"-tls-key={tmp_path / 'key.pem'}"]

    with pytest.raises(FlagError, match="does not exist"):
        build_config(argv, {})


def test_version_flag_returns_none():
    assert build_config(["-version"], {}) is None


def test_positional_argument_raises():
    with pytest.raises(FlagError, match="unexpected argument: serve"):
        build_config(["serve"], {})


def test_help_flag_raises_help():
    with pytest.raises(HelpRequested):
        build_config(["-help"], {})


@pytest.mark.parametrize("flag", ["-h", "-help", "--help"])
def test_main_help_prints_usage(flag, capsys, clean_environ):
    assert main([flag]) == 0

    out, err = capsys.readouterr()
    assert out.startswith("Usage: td [flags]\n")
    assert err == ""


def test_main_help_lists_flags(capsys, clean_environ):
    main(["-h"])

    out = capsys.readouterr().out
    assert "  -api host:port\n" in out
    assert "  -step-delay duration\n" in out
    assert "  -worker\n" in out
    assert "environment: TD_TEMPORAL, TEMPORAL_ADDRESS\n" in out
    assert "UNSPLASH_ACCESS_KEY" in out


def test_main_version(capsys, clean_environ):
    assert main(["-version"]) == 0

    out, err = capsys.readouterr()
    assert out == f"td {__version__}\n"
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-api=8888"], "invalid address '8888'"),
        (["-api=host:99999"], "invalid port '99999'"),
        (["-api=::1:80"], "put an IPv6 host in brackets"),
        (["-step-delay=-1s"], "the step delay cannot be negative"),
        (["-ui=ftp://temporal.example"], "invalid value for -ui"),
        (["-nope"], "flag provided but not defined: -nope"),
        (["-queue"], "flag needs an argument: -queue"),
        (["serve"], "unexpected argument: serve"),
    ],
)
def test_main_rejects_invalid_command_line(argv, message, capsys, clean_environ):
    assert main(argv) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("td: ")
    assert message in err.splitlines()[0]
    assert "Usage: td [flags]" in err


def test_main_rejects_invalid_env(capsys, monkeypatch, clean_environ):
    monkeypatch.setenv("TD_STEP_DELAY", "soon")

    assert main(["-version"]) == 2

    err = capsys.readouterr().err
    assert "TD_STEP_DELAY" in err.splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-queue="], "invalid value '' for -queue: cannot be empty"),
        (["-namespace= "], "for -namespace: cannot be empty"),
        (["-temporal=:7233"], "the host is missing"),
        (["-api=", "-worker=false"], "td would run nothing"),
    ],
)
def test_settings_that_run_nothing_exit_2(capsys, argv, message):
    code = main(argv)

    assert code == 2
    assert message in capsys.readouterr().err


def test_blank_td_auth_is_no_secret():
    config = build_config([], {"TD_AUTH": "   "})

    assert config.auth_value is None


def test_huge_step_delay_exits_2(capsys):
    code = main(["-step-delay=99999999999999h"])

    assert code == 2
    assert "too long" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":9090", {"0.0.0.0:9090"}),
        ("127.0.0.1:9090", {"127.0.0.1:9090"}),
        ("[::1]:9090", {"[::1]:9090"}),
        # The SDK's listener takes only an IP address, so td resolves the name.
        ("localhost:9090", {"127.0.0.1:9090", "[::1]:9090"}),
    ],
)
def test_metrics_addresses(text, expected):
    assert build_config([f"-metrics={text}"], {}).metrics in expected


def test_bad_file_error_shows_no_usage(capsys, clean_environ, tmp_path):
    code = main([f"-tls-cert={tmp_path}/cert.pem", f"-tls-key={tmp_path}/key.pem"])

    stderr = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in stderr
    assert "Usage" not in stderr


@pytest.mark.parametrize(
    ("ui", "warned"),
    [
        ("http://temporal-ui:8080", True),
        ("http://temporal-ui.internal:8080", False),
        ("http://localhost:8233", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_single_label_ui_host_warns(caplog, ui, warned):
    from td.server import _warn_about_config

    _warn_about_config(Config(ui=ui, unsplash_access_key="key", auth_value="Bearer x"))

    assert ("Dispatch rejects such links" in caplog.text) is warned


def test_overlong_queue_raises():
    with pytest.raises(FlagError, match="at most 1000"):
        build_config(["-queue=" + "q" * 1001], {})


def test_non_utf8_td_auth_is_usable():
    # Python keeps bytes that are not UTF-8 as lone surrogates in os.environ.
    config = build_config([], {"TD_AUTH": "Bearer \udcffX"})

    assert config.auth_value == "Bearer \udcffX"
