"""A fake Isoflop API for the SDK's tests and benchmark: the HTTP contract, in memory, with injectable faults.

It keeps its data in a `Store` that outlives the socket server, so a test can stop the server (connections
refused, open keep-alive connections cut) and start it again on the same port, like a restart with its
database intact. Standalone: `python fake_server.py [--port N]` prints `PORT <n>` and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "test-token"


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    action: (
        str  # "status": answer `status`; "reset": cut the connection unprocessed; "lost": process, then cut
    )
    remaining: int
    status: int = 503
    retry_after: str | None = None
    after: int = 0  # let this many matching requests through first


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.teams = {"team-a": "editor", "team-b": "viewer"}
        self.runs: dict[int, dict[str, Any]] = {}
        self.by_external: dict[tuple[str, str], int] = {}
        self.points: dict[int, dict[str, list[tuple[int, float | None, float | None]]]] = {}
        self.keys: dict[tuple[int, str], int] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.reports: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.metric_requests = 0
        self.duplicate_requests = 0
        self.max_points = 100_000
        self.metrics_delay = 0.0
        self.uploaded: list[tuple[str, bytes]] = []
        # False: count points instead of keeping them (the benchmark sends millions).
        self.keep_points = True
        self.counts: dict[int, dict[str, int]] = {}
        self._next = 1

    def next_id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next - 1

    # -- test helpers -------------------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        *,
        times: int = 1,
        status: int = 503,
        retry_after: str | None = None,
        method: str = "POST",
        after: int = 0,
    ) -> None:
        self.faults.append(Fault(method, re.compile(path), "status", times, status, retry_after, after))

    def reset(
        self, path: str, *, times: int = 1, method: str = "POST", lost: bool = False, after: int = 0
    ) -> None:
        """Cut the connection: before handling (`lost=False`) or after storing, the answer lost (`lost=True`)."""
        self.faults.append(Fault(method, re.compile(path), "lost" if lost else "reset", times, after=after))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.method == method and fault.path.search(path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.remaining -= 1
                    return fault
        return None

    def run(self, run_id: int | None) -> dict[str, Any]:
        assert run_id is not None, "the run has no server id"
        return self.runs[run_id]

    def n_points(self, run_id: int | None) -> int:
        with self.lock:
            return sum(len(v) for v in self.points.get(run_id or 0, {}).values())

    def series(self, run_id: int | None, name: str) -> list[tuple[int, float | None, float | None]]:
        with self.lock:
            return list(self.points.get(run_id or 0, {}).get(name, []))

    def only_run(self) -> dict[str, Any]:
        assert len(self.runs) == 1, f"expected one run, have {len(self.runs)}"
        return next(iter(self.runs.values()))

    def assert_exactly_once(self, run_id: int | None, steps: range, names: list[str]) -> None:
        for name in names:
            got = sorted(p[0] for p in self.series(run_id, name))
            assert got == list(steps), f"{name}: {len(got)} points, expected {len(steps)} distinct steps"

    # -- API ----------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, Any]:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/api/me/", self.me),
            ("POST", r"/api/runs/", self.create_run),
            ("GET", r"/api/runs/", self.list_runs),
            ("GET", r"/api/runs/(\d+)/", self.get_run),
            ("POST", r"/api/runs/(\d+)/metrics/", self.metrics),
            ("POST", r"/api/runs/(\d+)/finish/", self.finish),
            ("GET", r"/api/runs/(\d+)/series/([^/]+)/csv", self.csv),
            ("POST", r"/api/ingest/", self.ingest),
            ("GET", r"/api/ingest/jobs/(\d+)/", self.job),
            ("POST", r"/api/reports/", self.create_report),
            ("GET", r"/api/reports/(\d+)/", self.get_report),
            ("GET", r"/api/reports/(\d+)/files/(\w+)", self.report_file),
        ]
        for m, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                return fn(*match.groups(), query=query, headers=headers, body=body)  # type: ignore[no-any-return]
        raise HttpError(404, "not_found", f"no route {method} {path}")

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise HttpError(400, "invalid_json", str(exc)) from exc

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(int(run_id))
        if run is None:
            raise HttpError(404, "not_found", f"no run {run_id}")
        return run

    def me(self, **_: Any) -> tuple[int, Any]:
        teams = [{"slug": s, "role": r} for s, r in self.teams.items()]
        return 200, {"username": "alice", "teams": teams, "scopes": ["read", "ingest", "reports"]}

    def create_run(self, *, body: bytes, **_: Any) -> tuple[int, Any]:
        data = self._json(body)
        team = data.get("team")
        if self.teams.get(team) not in ("editor", "admin"):
            raise HttpError(403, "forbidden", f"you cannot create runs in team {team!r}")
        if not data.get("name"):
            raise HttpError(400, "invalid", "name is required", {"name": "required"})
        with self.lock:
            ext = data.get("external_id") or hashlib.sha256(body).hexdigest()
            existing = self.by_external.get((team, ext))
            if existing is not None:
                return 200, self.runs[existing]
            run_id = self.next_id()
            run = {
                "id": run_id,
                "team": team,
                "name": data["name"],
                "external_id": ext,
                "status": "running",
                "url": f"/runs/{run_id}/",
                "parameters": data.get("parameters"),
                "tokens": data.get("tokens"),
                "final_loss": None,
                "created_at": "2025-01-01T00:00:00+00:00",
                "tags": data.get("tags", []),
                "config": data.get("config", {}),
                "summary": {},
            }
            self.runs[run_id] = run
            self.by_external[(team, ext)] = run_id
            self.points[run_id] = {}
            return 201, run

    def list_runs(self, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        runs = sorted(self.runs.values(), key=lambda r: -r["id"])
        if query.get("team"):
            runs = [r for r in runs if r["team"] == query["team"]]
        if query.get("q"):
            runs = [r for r in runs if query["q"].lower() in r["name"].lower()]
        if query.get("status"):
            runs = [r for r in runs if r["status"] == query["status"]]
        if query.get("tag"):
            runs = [r for r in runs if query["tag"] in r["tags"]]
        start = int(query.get("cursor") or 0)
        limit = int(query.get("limit") or 50)
        page = runs[start : start + limit]
        more = start + limit < len(runs)
        return 200, {"items": page, "next_cursor": str(start + limit) if more else None}

    def get_run(self, run_id: str, **_: Any) -> tuple[int, Any]:
        run = self._run(run_id)
        series = []
        with self.lock:
            for name, pts in sorted(self.points[run["id"]].items()):
                steps = [p[0] for p in pts]
                series.append(
                    {
                        "name": name,
                        "n_points": len(pts),
                        "min_step": min(steps),
                        "max_step": max(steps),
                        "last_value": max(pts)[1],
                    }
                )
            for name, n in sorted(self.counts.get(run["id"], {}).items()):
                series.append(
                    {"name": name, "n_points": n, "min_step": None, "max_step": None, "last_value": None}
                )
        return 200, {**run, "series": series}

    def metrics(self, run_id: str, *, headers: Any, body: bytes, **_: Any) -> tuple[int, Any]:
        run = self._run(run_id)
        key = headers.get("Idempotency-Key")
        if key is not None and len(key) > 200:
            raise HttpError(400, "invalid", "Idempotency-Key is longer than 200 characters")
        if self.metrics_delay:
            time.sleep(self.metrics_delay)
        data = self._json(body)
        series = data.get("series")
        if not isinstance(series, dict):
            raise HttpError(400, "invalid", "series must be an object")
        rows: list[tuple[str, list[Any], list[Any], list[Any]]] = []
        for name, col in series.items():
            steps, values = col.get("steps"), col.get("values")
            walls = col.get("wall_times") or [None] * len(steps or [])
            if (
                not isinstance(steps, list)
                or not isinstance(values, list)
                or not len(steps) == len(values) == len(walls)
            ):
                raise HttpError(
                    400, "invalid", f"series {name!r}: steps, values, wall_times differ in length"
                )
            if not all(type(s) is int for s in steps):
                raise HttpError(400, "invalid", f"series {name!r}: steps must be integers")
            rows.append((name, steps, values, walls))
        n = sum(len(r[1]) for r in rows)
        if n > self.max_points:
            raise HttpError(413, "too_many_points", f"{n} points; at most {self.max_points} per request")
        with self.lock:
            self.metric_requests += 1
            if key is not None and (run["id"], key) in self.keys:
                self.duplicate_requests += 1
                return 200, {"accepted": self.keys[(run["id"], key)], "duplicate": True}
            if self.keep_points:
                store = self.points[run["id"]]
                for name, steps, values, walls in rows:
                    store.setdefault(name, []).extend(zip(steps, values, walls, strict=True))
            else:
                counts = self.counts.setdefault(run["id"], {})
                for name, steps, _values, _walls in rows:
                    counts[name] = counts.get(name, 0) + len(steps)
            if key is not None:
                self.keys[(run["id"], key)] = n
        return 200, {"accepted": n, "duplicate": False}

    def finish(self, run_id: str, *, body: bytes, **_: Any) -> tuple[int, Any]:
        run = self._run(run_id)
        data = self._json(body)
        if data.get("status") not in ("finished", "failed"):
            raise HttpError(400, "invalid", "status must be finished or failed")
        with self.lock:
            run.update(
                status=data["status"], final_loss=data.get("final_loss"), summary=data.get("summary", {})
            )
        return 200, run

    def csv(self, run_id: str, name: str, **_: Any) -> tuple[int, Any]:
        run = self._run(run_id)
        pts = sorted(self.points[run["id"]].get(unquote(name), []), key=lambda p: p[0])
        if not pts:
            raise HttpError(404, "not_found", f"no series {unquote(name)!r}")
        lines = ["step,value,wall_time"] + [
            f"{s},{'' if v is None else repr(v)},{'' if w is None else repr(w)}" for s, v, w in pts
        ]
        return 200, ("text/csv", ("\n".join(lines) + "\n").encode())

    def ingest(self, *, headers: Any, body: bytes, **_: Any) -> tuple[int, Any]:
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HttpError(400, "invalid", "multipart/form-data expected")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        team, files = None, []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = cast(bytes, part.get_payload(decode=True) or b"")
            if name == "team":
                team = payload.decode()
            elif name == "files":
                files.append((str(part.get_filename()), payload))
        if team not in self.teams:
            raise HttpError(403, "forbidden", f"no team {team!r}")
        if not files:
            raise HttpError(400, "invalid", "no files")
        job_id = self.next_id()
        with self.lock:
            self.uploaded.extend(files)
            self.jobs[job_id] = {"files": files, "polls": 0}
        return 201, {"job": job_id, "status": "queued", "progress_url": f"/api/ingest/jobs/{job_id}/"}

    def job(self, job_id: str, **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(job_id))
        if job is None:
            raise HttpError(404, "not_found", "no job")
        job["polls"] += 1
        files = job["files"]
        done = len(files) if job["polls"] >= 2 else len(files) // 2
        out_files = []
        for i, (name, _payload) in enumerate(files):
            bad = "bad" in name
            status = "queued" if i >= done else ("failed" if bad else "done")
            errors = (
                [{"file": name, "line": 2, "reason": "unrecognised header 'foo'"}] if bad and i < done else []
            )
            out_files.append({"name": name, "status": status, "errors": errors})
        if done < len(files):
            status = "running"
        elif all("bad" in n for n, _ in files):
            status = "failed"
        elif any("bad" in n for n, _ in files):
            status = "partial"
        else:
            status = "done"
        return 200, {
            "id": int(job_id),
            "status": status,
            "files_total": len(files),
            "files_done": done,
            "bytes_total": sum(len(p) for _, p in files),
            "bytes_done": sum(len(p) for _, p in files[:done]),
            "rows_done": 10 * done,
            "error_summary": None,
            "files": out_files,
        }

    def create_report(self, *, body: bytes, **_: Any) -> tuple[int, Any]:
        data = self._json(body)
        if data.get("scope") not in ("study", "model_family", "run_set", "catalog"):
            raise HttpError(400, "invalid", "bad scope")
        rid = self.next_id()
        self.reports[rid] = {
            "formats": data.get("formats") or ["pdf"],
            "polls": 0,
            "params": data.get("params"),
        }
        return 202, {"id": rid, "status": "queued", "progress": 0.0, "stage": "queued", "files": []}

    def get_report(self, report_id: str, **_: Any) -> tuple[int, Any]:
        rep = self.reports.get(int(report_id))
        if rep is None:
            raise HttpError(404, "not_found", "no report")
        rep["polls"] += 1
        if rep["polls"] < 2:
            return 200, {
                "id": int(report_id),
                "status": "running",
                "progress": 0.5,
                "stage": "render",
                "files": [],
            }
        files = [
            {"format": f, "size": len(self._report_bytes(f)), "url": f"/api/reports/{report_id}/files/{f}"}
            for f in rep["formats"]
        ]
        return 200, {"id": int(report_id), "status": "done", "progress": 1.0, "stage": "done", "files": files}

    @staticmethod
    def _report_bytes(fmt: str) -> bytes:
        return b"%PDF-1.7 fake report\n" if fmt == "pdf" else f"fake {fmt} report\n".encode()

    def report_file(self, report_id: str, fmt: str, **_: Any) -> tuple[int, Any]:
        rep = self.reports.get(int(report_id))
        if rep is None or fmt not in rep["formats"]:
            raise HttpError(404, "not_found", "no such report file")
        return 200, ("application/octet-stream", self._report_bytes(fmt))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response and no Nagle: otherwise headers and body go out in two segments and the
    # client's delayed ACK adds ~40 ms to every request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self, method: str) -> None:
        store = self.server.store
        body = self._read_body()
        url = urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with store.lock:
            store.requests.append((method, path))
        fault = store.take_fault(method, path)
        if fault is not None and fault.action == "reset":
            return self._cut()
        if fault is not None and fault.action == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return self._send(fault.status, {"error": "injected failure", "code": "unavailable"}, extra)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"error": "invalid or missing token", "code": "unauthorized"})
        try:
            status, payload = store.handle(method, path, query, self.headers, body)
        except HttpError as exc:
            status, payload = exc.status, {"error": exc.message, "code": exc.code, "detail": exc.detail}
        if fault is not None and fault.action == "lost":
            return self._cut()
        self._send(status, payload)

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, tuple):
            ctype, data = payload
        else:
            ctype, data = "application/json", json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        self.store = store
        self.open_sockets: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def cut_all(self) -> None:
        for sock in list(self.open_sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FakeServer:
    def __init__(self, store: Store | None = None, port: int = 0) -> None:
        self.store = store or Store()
        self.port = port
        self._httpd: _HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self._httpd = _HTTPServer(("127.0.0.1", self.port), self.store)
        self.port = self._httpd.server_address[1]
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Go away like a crashed server: refuse new connections, cut the open ones."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.cut_all()
            self._httpd = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count-only", action="store_true", help="count points instead of keeping them")
    args = parser.parse_args()
    server = FakeServer(port=args.port).start()
    server.store.keep_points = not args.count_only
    print(f"PORT {server.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
