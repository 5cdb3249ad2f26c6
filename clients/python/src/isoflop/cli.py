"""The `isoflop` command: login, upload, sync, runs, series export, reports."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._config import resolve, save_credentials
from ._progress import ProgressBar, human_bytes
from .client import Client
from .errors import APIError, IsoflopError
from .spool import find_spools, sync_one
from .types import IngestJob, report_files
from .upload import collect_files, upload


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (IsoflopError, OSError) as exc:
        print(f"isoflop: error: {exc}", file=sys.stderr)
        if isinstance(exc, APIError) and exc.detail:
            print(json.dumps(exc.detail, indent=2), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isoflop", description="Isoflop command line client.")
    parser.add_argument("--version", action="version", version=f"isoflop-sdk {__version__}")
    parser.add_argument("--url", help="server URL (default: ISOFLOP_URL, else the stored login)")
    parser.add_argument("--token", help="API token (default: ISOFLOP_TOKEN, else the stored login)")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("login", help="store a server URL and token after checking them")
    p.add_argument("login_url", nargs="?", metavar="URL")
    p.add_argument("--token", dest="login_token", help="the token, or - to read it from stdin")
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("upload", help="upload files, folders or archives for ingestion")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--team", help="team slug (default: ISOFLOP_TEAM, else your only team)")
    p.add_argument("--wait", action="store_true", help="wait for the ingest job and print per-file errors")
    p.add_argument("--timeout", type=float, help="seconds to wait with --wait")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("sync", help="send offline spools to the server (exactly once; safe to repeat)")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="a run's spool directory, or a folder of them")
    p.add_argument(
        "--fail-unfinished",
        action="store_true",
        help="mark runs whose spool has no finish record (a crashed job) as failed",
    )
    p.set_defaults(func=cmd_sync)

    runs = sub.add_parser("runs", help="list and show runs").add_subparsers(metavar="COMMAND")
    p = runs.add_parser("ls", help="list runs")
    p.add_argument("--team")
    p.add_argument("-q", "--query", dest="q")
    p.add_argument("--status", choices=["running", "finished", "failed", "imported"])
    p.add_argument("--tag")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_runs_ls)
    p = runs.add_parser("show", help="show a run and its series")
    p.add_argument("run_id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_show)

    series = sub.add_parser("series", help="metric series").add_subparsers(metavar="COMMAND")
    p = series.add_parser("export", help="download a series as CSV (step,value,wall_time)")
    p.add_argument("run_id", type=int, metavar="RUN")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_series_export)

    reports = sub.add_parser("reports", help="request and download reports").add_subparsers(metavar="COMMAND")
    p = reports.add_parser("request", help="request a report")
    p.add_argument("--team")
    p.add_argument("--scope", required=True, choices=["study", "model_family", "run_set", "catalog"])
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="repeatable; JSON values"
    )
    p.add_argument("--params-json", help="all params as one JSON object")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=["pdf", "html", "csv", "json", "bib"],
        help="repeatable (default: pdf)",
    )
    p.add_argument("--wait", action="store_true", help="wait until the report is built")
    p.add_argument("--timeout", type=float)
    p.set_defaults(func=cmd_reports_request)
    p = reports.add_parser("download", help="download a built report")
    p.add_argument("report_id", type=int, metavar="ID")
    p.add_argument("--format", dest="fmt", default="pdf", choices=["pdf", "html", "csv", "json", "bib"])
    p.add_argument("-o", "--output", help="file to write (default: report-ID.FORMAT; - for stdout)")
    p.add_argument("--wait", action="store_true", help="wait for the report first")
    p.add_argument("--timeout", type=float)
    p.set_defaults(func=cmd_reports_download)
    return parser


def _client(args: argparse.Namespace, **kwargs: Any) -> Client:
    return Client(args.url, args.token, **kwargs)


def _team(args: argparse.Namespace, client: Client) -> str:
    team = args.team or os.environ.get("ISOFLOP_TEAM")
    if team:
        return str(team)
    teams = client.me()["teams"]
    if len(teams) == 1:
        return teams[0]["slug"]
    names = ", ".join(t["slug"] for t in teams) or "none"
    raise IsoflopError(f"say which team with --team or ISOFLOP_TEAM (yours: {names})")


# -- commands -----------------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    current = resolve(None, None, "online")
    url = args.login_url or args.url or current.url
    if not url:
        url = input("Isoflop server URL: ").strip()
    token = args.login_token or args.token
    if token == "-":  # noqa: S105 - "-" means stdin, not a password
        token = sys.stdin.readline().strip()
    if not token:
        token = getpass.getpass("API token (input hidden): ").strip()
    if not url or not token:
        raise IsoflopError("a URL and a token are needed")
    with Client(url, token, retry_for=10.0) as client:
        me = client.me()
        path = save_credentials(client.base_url, token)
    teams = ", ".join(f"{t['slug']} ({t['role']})" for t in me.get("teams", [])) or "no teams"
    print(f"Logged in to {url} as {me['username']}: {teams}. Scopes: {', '.join(me.get('scopes', []))}.")
    print(f"Credentials saved to {path} (mode 0600).")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    items = collect_files(args.paths)  # fail on a missing path before touching the network
    total = sum(p.stat().st_size for _, p in items)
    with _client(args, timeout=300.0) as client:
        team = _team(args, client)
        bar = ProgressBar(
            total, f"Uploading {len(items)} file(s)", enabled=False if args.no_progress else None
        )
        job = upload(args.paths, team=team, client=client, on_progress=lambda done, _total: bar.update(done))
        bar.close()
        job_id = int(job.get("job") or job.get("id") or 0)
        print(f"Ingest job {job_id}: {job.get('status')} ({client.absolute(job.get('progress_url', ''))})")
        if not args.wait:
            return 0
        final = client.wait_ingest_job(job_id, timeout=args.timeout, on_update=_job_progress(args))
    return _print_job(final)


def _job_progress(args: argparse.Namespace) -> Any:
    if args.no_progress or not sys.stderr.isatty():
        return None

    def show(job: IngestJob) -> None:
        sys.stderr.write(
            f"\r{job.get('status', '?')}: {job.get('files_done', 0)}/{job.get('files_total', 0)} files, "
            f"{human_bytes(job.get('bytes_done', 0))}, {job.get('rows_done', 0)} rows   "
        )
        sys.stderr.flush()

    return show


def _print_job(job: IngestJob) -> int:
    print(
        f"Job {job.get('id')}: {job.get('status')}: {job.get('files_done', 0)}/{job.get('files_total', 0)} "
        f"files, {job.get('rows_done', 0)} rows"
    )
    for f in job.get("files", []):
        print(f"  {f['status']:>8}  {f['name']}")
        for err in f.get("errors", []):
            where = f"{err.get('file') or f['name']}:{err['line']}" if err.get("line") else err.get("file")
            print(f"            {where}: {err.get('reason')}")
    if job.get("error_summary"):
        print(f"  {job['error_summary']}")
    return 0 if job.get("status") == "done" else 1


def cmd_sync(args: argparse.Namespace) -> int:
    failed = 0
    with _client(args) as client:
        for raw in args.dirs:
            for directory in find_spools(Path(raw)):
                try:
                    r = sync_one(directory, client, fail_unfinished=args.fail_unfinished)
                except IsoflopError as exc:
                    failed += 1
                    print(f"{directory}: failed: {exc} (run sync again to resume)", file=sys.stderr)
                    continue
                if r.already_synced:
                    print(f"{directory}: already synced -> {r.run_url}")
                    continue
                state = "finished" if r.finished else "no finish record yet (run still writing, or crashed)"
                print(
                    f"{directory}: {r.records_sent} records, {r.points_sent} new points"
                    f" ({r.duplicate_batches} batches already stored) -> {r.run_url} [{state}]"
                )
                for err in r.errors:
                    print(f"  skipped: {err}", file=sys.stderr)
    return 1 if failed else 0


def cmd_runs_ls(args: argparse.Namespace) -> int:
    with _client(args) as client:
        runs = list(
            client.list_runs(team=args.team, q=args.q, status=args.status, tag=args.tag, limit=args.limit)
        )
    if args.json:
        for run in runs:
            print(json.dumps(run))
        return 0
    rows = [
        [
            str(r.get("id")),
            r.get("team", ""),
            r.get("name", ""),
            r.get("status", ""),
            _num(r.get("parameters")),
            _num(r.get("tokens")),
            _num(r.get("final_loss")),
            str(r.get("created_at", ""))[:19],
        ]
        for r in runs
    ]
    _table(["ID", "TEAM", "NAME", "STATUS", "PARAMS", "TOKENS", "LOSS", "CREATED"], rows)
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        run = client.get_run(args.run_id)
        url = client.absolute(run.get("url", f"/runs/{args.run_id}/"))
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    for key in (
        "id",
        "team",
        "name",
        "external_id",
        "status",
        "parameters",
        "tokens",
        "final_loss",
        "created_at",
    ):
        if key in run:
            print(f"{key:>12}: {run[key]}")
    print(f"{'url':>12}: {url}")
    series = run.get("series", [])
    if series:
        print()
        rows = [
            [s["name"], str(s["n_points"]), str(s["min_step"]), str(s["max_step"]), _num(s["last_value"])]
            for s in series
        ]
        _table(["SERIES", "POINTS", "FIRST STEP", "LAST STEP", "LAST VALUE"], rows)
    return 0


def cmd_series_export(args: argparse.Namespace) -> int:
    with _client(args) as client:
        n = client.export_series(args.run_id, args.name, args.output)
    if args.output != "-":
        print(f"Wrote {human_bytes(n)} to {args.output}", file=sys.stderr)
    return 0


def cmd_reports_request(args: argparse.Namespace) -> int:
    params: dict[str, Any] = json.loads(args.params_json) if args.params_json else {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise IsoflopError(f"--param wants KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    with _client(args) as client:
        team = _team(args, client)
        report = client.request_report(
            team=team, scope=args.scope, params=params, formats=args.formats or ["pdf"]
        )
        print(f"Report {report.get('id')}: {report.get('status')}")
        if args.wait:
            report = client.wait_report(int(report["id"]), timeout=args.timeout)
            print(f"Report {report.get('id')}: {report.get('status')}")
            for f in report_files(report):
                print(f"  {f['format']:>5}  {human_bytes(f['size']):>10}  {client.absolute(f['url'])}")
    return 0 if report.get("status") != "failed" else 1


def cmd_reports_download(args: argparse.Namespace) -> int:
    output = args.output or f"report-{args.report_id}.{args.fmt}"
    with _client(args) as client:
        if args.wait:
            client.wait_report(args.report_id, timeout=args.timeout)
        n = client.download_report(args.report_id, args.fmt, output)
    if output != "-":
        print(f"Wrote {human_bytes(n)} to {output}", file=sys.stderr)
    return 0


# -- output -------------------------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int) and abs(value) >= 1e5:
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())
