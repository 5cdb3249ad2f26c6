"""Where the server URL, token and mode come from: arguments, then environment, then the CLI's login file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

MODES = ("online", "offline", "disabled")


@dataclass(frozen=True)
class Settings:
    url: str | None
    token: str | None
    mode: str


def config_dir() -> Path:
    if explicit := os.environ.get("ISOFLOP_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "isoflop"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def load_credentials() -> dict[str, str]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save_credentials(url: str, token: str) -> Path:
    """Write the login file atomically, readable by the owner only (0600 in a 0700 directory)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask and ignored for an existing file
        os.write(fd, json.dumps({"url": url, "token": token}, indent=2).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def resolve(url: str | None = None, token: str | None = None, mode: str | None = None) -> Settings:
    """Each field from its argument, else ISOFLOP_URL / ISOFLOP_TOKEN / ISOFLOP_MODE, else the login file.

    With no mode given anywhere, the mode is "online" when a URL and token are known and "offline" otherwise.
    """
    stored: dict[str, str] | None = None

    def from_file(key: str) -> str | None:
        nonlocal stored
        if stored is None:
            stored = load_credentials()
        return stored.get(key)

    url = url or os.environ.get("ISOFLOP_URL") or from_file("url")
    token = token or os.environ.get("ISOFLOP_TOKEN") or from_file("token")
    mode = mode or os.environ.get("ISOFLOP_MODE") or ("online" if url and token else "offline")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if url:
        url = url.rstrip("/")
    return Settings(url=url, token=token, mode=mode)


def require_online(settings: Settings) -> tuple[str, str]:
    if not settings.url or not settings.token:
        raise ConfigError(
            "no Isoflop server configured: run `isoflop login`, set ISOFLOP_URL and ISOFLOP_TOKEN, "
            "or pass base_url= and token="
        )
    return settings.url, settings.token
