import pytest

from config.env import ConfigError, env_bool, env_int, env_list


def test_env_helpers_parse_and_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 42
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ConfigError, match="X_BOOL"):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "4x")
    with pytest.raises(ConfigError, match="X_INT"):
        env_int("X_INT", 0)
    assert env_int("X_MISSING", 7) == 7
