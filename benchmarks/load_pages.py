"""Drive the hot catalog pages on loopback and report p50/p95 per page against the 300 ms target.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_load .venv/bin/python benchmarks/seed_large.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_load .venv/bin/python benchmarks/load_pages.py \
        --seconds 60 --concurrency 2

Starts gunicorn (2 sync workers) on 127.0.0.1, logs in as the seeded bench user, then a small thread pool
requests the pages round-robin for a bounded time. Only 127.0.0.1 is ever contacted. Besides the catalog
pages it drives the run pages over the seeded metric points: the run list, a run's detail page (its first
curve), a zoomed curve request of a rotating run (a different series each time: rollup blocks and chunks
read from PostgreSQL, not the cache) and a comparison of two runs. Ends with a `RESULT` line.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import itertools
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/isoflop_load")
    env["DATABASE_CONN_MAX_AGE"] = "60"  # persistent connections, as in production
    env["DJANGO_DEBUG"] = "0"
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/login/", timeout=2
            ).read()  # /health/ is 503 without a worker
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("server did not start within 30 s")


def _login(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no CSRF token on the login form")
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    # base is always http://127.0.0.1:<port> built above.
    request = urllib.request.Request(f"{base}/login/", data=body, headers={"Referer": f"{base}/login/"})  # noqa: S310
    final = opener.open(request, timeout=10)
    if final.geturl().rstrip("/").endswith("/login"):
        raise SystemExit(f"login as {username} failed (did seed_large.py run against this database?)")
    return opener


def _pages(opener: urllib.request.OpenerDirector, base: str) -> dict[str, str]:
    table = opener.open(f"{base}/catalog/models/?sort=compute", timeout=30).read().decode()
    model = re.search(r'href="/catalog/models/(\d+)/"', table)
    pages = {
        "home": "/",
        "papers": "/catalog/papers/",
        "papers page 200": "/catalog/papers/?page=200",
        "papers search": "/catalog/papers/?q=scaling+law+synthetic",
        "papers phrase+tag": "/catalog/papers/?q=%22mixture+experts%22&tag=topic-03",
        "models": "/catalog/models/",
        "models by compute p5": "/catalog/models/?sort=compute&page=5",
        "timeline": "/catalog/timeline/",
        "costs": "/catalog/costs/",
        "costs what-if": "/catalog/costs/?pue=1.3&grid=0.2",
    }
    if model:
        pages["model detail"] = f"/catalog/models/{model.group(1)}/"
    runs = opener.open(f"{base}/runs/", timeout=30).read().decode()
    run_ids = sorted({int(m) for m in re.findall(r'href="/runs/(\d+)/"', runs)})
    if run_ids:
        pages["runs"] = "/runs/"
        pages["run detail"] = f"/runs/{run_ids[0]}/"
        if len(run_ids) > 1:
            pages["compare 2 runs"] = f"/runs/compare/?ids={run_ids[0]},{run_ids[1]}&metric=train/loss"
    return pages


def _series_urls(opener: urllib.request.OpenerDirector, base: str) -> list[str]:
    """Zoomed curve requests over many different series (uncached: each is a fresh window)."""
    runs = opener.open(f"{base}/runs/", timeout=30).read().decode()
    urls = []
    for run_id in sorted({int(m) for m in re.findall(r'href="/runs/(\d+)/"', runs)})[:50]:
        detail = opener.open(f"{base}/runs/{run_id}/", timeout=30).read().decode()
        for series_id in sorted(set(re.findall(rf"/runs/{run_id}/series/(\d+)\.csv", detail))):
            urls.append(f"/runs/{run_id}/series/{series_id}/data?x0=100000&x1=400000&points=2000")
    return urls


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--user", default="bench")
    parser.add_argument("--password", default="bench-password-123")
    args = parser.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(port, args.workers)
    try:
        openers = [_login(base, args.user, args.password) for _ in range(args.concurrency)]
        pages = _pages(openers[0], base)
        series_urls = itertools.cycle(_series_urls(openers[0], base) or [""])
        for path in pages.values():  # warm each worker's connection and template cache
            for opener in openers:
                opener.open(base + path, timeout=30).read()
        if next(series_urls):
            pages["curve zoom (rotating series)"] = ""
        timings: dict[str, list[float]] = {name: [] for name in pages}
        errors: dict[str, int] = dict.fromkeys(pages, 0)
        lock = threading.Lock()
        order = itertools.cycle(list(pages.items()))
        stop_at = time.monotonic() + args.seconds

        def drive(opener: urllib.request.OpenerDirector) -> None:
            while time.monotonic() < stop_at:
                with lock:
                    name, path = next(order)
                    if not path:
                        path = next(series_urls)
                start = time.perf_counter()
                try:
                    response = opener.open(base + path, timeout=30)
                    response.read()
                    ok = response.status == 200
                except OSError:
                    ok = False
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    timings[name].append(elapsed)
                    errors[name] += 0 if ok else 1

        threads = [threading.Thread(target=drive, args=(o,)) for o in openers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=20)

    print(
        f"\n{args.seconds:.0f} s, concurrency {args.concurrency}, gunicorn {args.workers} workers, "
        f"target p95 < {TARGET_MS:.0f} ms"
    )
    print(f"{'page':30} {'n':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  verdict")
    failed = False
    worst = 0.0
    over: list[str] = []
    for name, values in timings.items():
        if not values:
            print(f"{name:30} no samples")
            failed = True
            continue
        p50, p95 = _percentile(values, 50), _percentile(values, 95)
        worst = max(worst, p95)
        verdict = "ok" if p95 < TARGET_MS and not errors[name] else "OVER"
        failed |= verdict != "ok"
        if verdict != "ok":
            over.append(name.replace(" ", "_"))
        print(
            f"{name:30} {len(values):5d} {errors[name]:4d} {p50:8.1f} {p95:8.1f} {max(values):8.1f}  {verdict}"
        )
    n_requests = sum(len(v) for v in timings.values())
    print(
        f"RESULT pages={len(timings)} requests={n_requests} errors={sum(errors.values())} "
        f"worst_p95_ms={worst:.1f} target_ms={TARGET_MS:.0f} over={','.join(over) or '-'} ok={int(not failed)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
