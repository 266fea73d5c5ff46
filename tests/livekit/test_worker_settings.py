"""Worker settings for shared hosts and tests: a fixed number of calls per worker, crash-recovery age."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.cli import main
from bot.livekit.worker import MAX_CALLS_ENV, build_server, max_calls_from_env


def test_max_calls_makes_the_load_the_share_of_calls_running(monkeypatch):
    monkeypatch.setenv(MAX_CALLS_ENV, "2")
    server = build_server(port=0)
    assert server._load_threshold == 1.0
    assert server._num_idle_processes == 2
    assert server.load_fnc(SimpleNamespace(active_jobs=[])) == 0.0
    assert server.load_fnc(SimpleNamespace(active_jobs=["call"])) == 0.5
    assert server.load_fnc(SimpleNamespace(active_jobs=["call", "call"])) == 1.0  # full


def test_without_max_calls_the_sdk_defaults_stay(monkeypatch):
    monkeypatch.delenv(MAX_CALLS_ENV, raising=False)
    assert max_calls_from_env() is None
    server = build_server(port=0)
    assert server._load_threshold != 1.0


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_max_calls_is_refused_with_the_variable_named(monkeypatch, value):
    monkeypatch.setenv(MAX_CALLS_ENV, value)
    with pytest.raises(ValueError, match=MAX_CALLS_ENV):
        max_calls_from_env()


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({"EMOTION_BOT_RECOVERY_STALE_AFTER_S": "soon"}, []),
        ({"EMOTION_BOT_RECOVERY_STALE_AFTER_S": "-5"}, []),
        ({}, ["--max-calls", "0"]),
    ],
)
def test_worker_refuses_to_start_with_bad_settings(monkeypatch, capsys, tmp_path, env, args):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # set (empty) through monkeypatch, so what `--max-calls` writes into os.environ is undone after
    monkeypatch.setenv(MAX_CALLS_ENV, "")
    monkeypatch.setenv("EMOTION_BOT_DB", str(tmp_path / "w.db"))
    code = main(["worker", "start", "--db", str(tmp_path / "w.db"), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert "not starting" in err
    assert ("EMOTION_BOT_RECOVERY_STALE_AFTER_S" if env else MAX_CALLS_ENV) in err
