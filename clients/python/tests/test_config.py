from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from isoflop import ConfigError
from isoflop._config import credentials_path, resolve, save_credentials
from isoflop._retry import Backoff, parse_retry_after


def test_arguments_beat_environment_beat_login_file(monkeypatch: pytest.MonkeyPatch) -> None:
    save_credentials("http://file.example", "file-token")
    assert resolve() == resolve(None, None, None)
    s = resolve()
    assert (s.url, s.token, s.mode) == ("http://file.example", "file-token", "online")
    monkeypatch.setenv("ISOFLOP_URL", "http://env.example/")
    monkeypatch.setenv("ISOFLOP_MODE", "offline")
    s = resolve()
    assert (s.url, s.token, s.mode) == ("http://env.example", "file-token", "offline")
    s = resolve("http://arg.example", "arg-token", "online")
    assert (s.url, s.token, s.mode) == ("http://arg.example", "arg-token", "online")


def test_without_a_server_the_default_mode_is_offline() -> None:
    assert resolve().mode == "offline"


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="mode must be one of"):
        resolve(mode="dryrun")


def test_credentials_file_is_private(tmp_path: Path) -> None:
    path = save_credentials("http://x", "secret")
    assert path == credentials_path() == tmp_path / "config" / "credentials.json"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert json.loads(path.read_text()) == {"url": "http://x", "token": "secret"}


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    b = Backoff(base=1.0, cap=8.0)
    for attempt, (lo, hi) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]):
        delays = [b.delay(attempt) for _ in range(200)]
        assert lo <= min(delays) and max(delays) <= hi
        assert len(set(delays)) > 100  # jittered
    assert b.delay(0, retry_after=5.0) >= 5.0
    assert b.delay(0, retry_after=10_000.0) == 300.0  # capped


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
