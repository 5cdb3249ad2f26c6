"""Run a parser on untrusted bytes in a child Python process under CPU, memory, output and wall-clock limits.

Why a child process: a crafted 54 KB PDF held a worker for 125 s. Limits set with ``setrlimit`` inside the
child (before the input is read or the parser imported) bound CPU seconds (``RLIMIT_CPU``), address space
(``RLIMIT_AS``) and the size of what it writes (``RLIMIT_FSIZE``); the parent adds a wall-clock timeout for
a child that sleeps or blocks. ``subprocess`` rather than ``multiprocessing``: Celery's prefork workers are
daemonic processes, which ``multiprocessing`` refuses to give children.

The child runs ``python -E -s -m ingestion.parsers.sandbox <module:function>``: it reads the input from
stdin, calls ``function(data, filename=..., **options)`` and writes a JSON envelope to stdout. Only JSON
crosses back (never pickle), so a parser exploited by its input cannot hand the parent an object.
Every failure becomes a ``ParseError`` naming the file and the exceeded budget.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ingestion.parsers.records import ParseError

ROOT = Path(__file__).resolve().parents[2]
ENVELOPE_LIMIT = 64 * 1024 * 1024
# Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE raises EFBIG: the child exits with this status.
EXIT_OUTPUT_EXCEEDED = 86


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int = 20
    memory_bytes: int = 768 * 1024 * 1024
    wall_seconds: float = 60.0
    output_bytes: int = ENVELOPE_LIMIT


def run_in_child(
    target: str,
    data: bytes,
    *,
    filename: str,
    limits: Limits | None = None,
    options: dict[str, Any] | None = None,
    what: str = "parsing",
) -> Any:
    """``target`` ("package.module:function") applied to ``data`` in a limited child; its JSON result."""
    limits = limits or Limits()
    config = {"filename": filename, "options": options or {}, "limits": asdict(limits)}
    cmd = [sys.executable, "-E", "-s", "-m", "ingestion.parsers.sandbox", target, json.dumps(config)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(  # our own interpreter and module, no shell
                cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=ROOT, env=env, start_new_session=True
            )
        except OSError as exc:
            raise ParseError(f"cannot start the {what} sandbox: {exc}", filename=filename) from None
        try:
            proc.communicate(input=data, timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ParseError(
                f"{what} exceeded the time budget of {limits.wall_seconds:g} s", filename=filename
            ) from None
        except BaseException:
            _kill(proc)
            raise
        code = proc.returncode
        out.seek(0)
        raw = out.read(limits.output_bytes + 1)
        err.seek(0)
        detail = err.read(2000).decode("utf-8", "replace").strip().splitlines()
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ParseError(f"{what} exceeded the CPU budget of {limits.cpu_seconds} s", filename=filename)
    if code in (-signal.SIGXFSZ, EXIT_OUTPUT_EXCEEDED) or len(raw) > limits.output_bytes:
        raise ParseError(
            f"{what} exceeded the output budget of {limits.output_bytes} bytes", filename=filename
        )
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        last = detail[-1][:200] if detail else f"exit status {code}"
        raise ParseError(f"{what} failed in the sandbox ({last})", filename=filename) from None
    if not isinstance(envelope, dict):
        raise ParseError(f"{what} sandbox returned no result", filename=filename)
    if envelope.get("ok"):
        return envelope.get("result")
    kind = envelope.get("kind")
    if kind == "parse":
        line = envelope.get("line")
        raise ParseError(
            str(envelope.get("reason", "")), filename=filename, line=line if isinstance(line, int) else None
        )
    if kind == "memory":
        raise ParseError(
            f"{what} exceeded the memory budget of {limits.memory_bytes // (1024 * 1024)} MiB",
            filename=filename,
        )
    if kind == "recursion":
        raise ParseError(f"{what} failed: structure nested too deeply", filename=filename)
    raise ParseError(
        f"{what} failed: {str(envelope.get('reason', 'unknown error'))[:300]}", filename=filename
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _apply_limits(limits: dict[str, Any]) -> None:
    import resource

    cpu = max(1, int(limits["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    output = int(limits["output_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child_main(argv: list[str]) -> int:
    import importlib

    target, raw_config = argv[1], argv[2]
    config = json.loads(raw_config)
    _apply_limits(config["limits"])
    envelope: dict[str, Any]
    try:
        data = sys.stdin.buffer.read()
        module_name, _, function_name = target.partition(":")
        function = getattr(importlib.import_module(module_name), function_name)
        envelope = {"ok": True, "result": function(data, filename=config["filename"], **config["options"])}
    except ParseError as exc:
        envelope = {"ok": False, "kind": "parse", "reason": exc.reason, "line": exc.line}
    except MemoryError:
        envelope = {"ok": False, "kind": "memory"}
    except RecursionError:
        envelope = {"ok": False, "kind": "recursion"}
    except Exception as exc:  # the parent turns it into a ParseError; the child must always answer
        envelope = {"ok": False, "kind": "error", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        payload = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        payload = json.dumps(
            {"ok": False, "kind": "error", "reason": f"unserialisable result: {exc}"}
        ).encode()
    try:
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            os._exit(EXIT_OUTPUT_EXCEEDED)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))
