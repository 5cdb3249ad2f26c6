from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from fake_server import TOKEN, FakeServer

import isoflop
from isoflop.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def logged_in(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> FakeServer:
    assert cli(capsys, "login", server.url, "--token", TOKEN)[0] == 0
    return server


def test_login_checks_the_token_and_stores_it_privately(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(capsys, "login", server.url, "--token", TOKEN)
    assert code == 0
    assert "as alice: team-a (editor), team-b (viewer)" in out
    creds = tmp_path / "config" / "credentials.json"
    assert json.loads(creds.read_text()) == {"url": server.url, "token": TOKEN}
    assert os.stat(creds).st_mode & 0o777 == 0o600


def test_login_with_a_bad_token_stores_nothing(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "login", server.url, "--token", "nope")
    assert code == 1 and "401" in err
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_login_reads_the_token_from_stdin(
    server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    assert cli(capsys, "login", server.url, "--token", "-")[0] == 0


def test_upload_files_folders_and_archives_and_wait(
    logged_in: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "cards" / "llama").mkdir(parents=True)
    (tmp_path / "cards" / "llama" / "README.md").write_text("# Llama\n")
    (tmp_path / "cards" / ".git").mkdir()
    (tmp_path / "cards" / ".git" / "HEAD").write_text("ref\n")
    (tmp_path / "bad_log.csv").write_text("foo,bar\n1,2\n")
    archive = tmp_path / "runs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "bad_log.csv", arcname="log.csv")
    code, out, _ = cli(
        capsys,
        "upload",
        str(tmp_path / "cards"),
        str(tmp_path / "bad_log.csv"),
        str(archive),
        "--team",
        "team-a",
        "--wait",
        "--no-progress",
    )
    assert code == 1  # partial: one file failed
    names = [n for n, _ in logged_in.store.uploaded]
    assert names == ["cards/llama/README.md", "bad_log.csv", "runs.tar.gz"]
    assert logged_in.store.uploaded[2][1] == archive.read_bytes()
    assert "Job " in out and ": partial: 3/3 files" in out
    assert "bad_log.csv:2: unrecognised header 'foo'" in out


def test_upload_without_wait_prints_the_job(
    logged_in: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("step,loss\n1,2\n")
    code, out, _ = cli(capsys, "upload", str(tmp_path / "a.csv"), "--team", "team-a")
    assert code == 0 and "Ingest job" in out and "queued" in out


def test_upload_needs_a_team_when_you_have_several(
    logged_in: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("x")
    code, _, err = cli(capsys, "upload", str(tmp_path / "a.csv"))
    assert code == 1 and "--team" in err and "team-a, team-b" in err
    assert logged_in.store.uploaded == []


def test_upload_api_waits_and_reports_progress(server: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for i in range(5):
        (tmp_path / "d" / f"f{i}.csv").write_bytes(b"x" * 1000)
    seen: list[tuple[int, int]] = []
    job = isoflop.upload(
        tmp_path / "d",
        team="team-a",
        wait=True,
        base_url=server.url,
        token=TOKEN,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert job["status"] == "done" and job["files_total"] == 5
    assert seen[-1] == (5000, 5000)


def test_sync_command(server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = isoflop.init(team="team-a", name="offline", mode="offline", spool_dir=tmp_path / "spool")
    for step in range(10):
        run.log({"loss": 1.0}, step=step)
    run.finish()
    code, out, _ = cli(capsys, "--url", server.url, "--token", TOKEN, "sync", str(tmp_path / "spool"))
    assert code == 0 and "3 records, 10 new points" in out and "[finished]" in out
    code, out, _ = cli(capsys, "--url", server.url, "--token", TOKEN, "sync", str(tmp_path / "spool"))
    assert code == 0 and "already synced" in out
    server.store.assert_exactly_once(server.store.only_run()["id"], range(10), ["loss"])


def test_runs_ls_and_show(logged_in: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    client = isoflop.Client()  # from the stored login
    for name in ("alpha", "beta"):
        run = client.create_run({"team": "team-a", "name": name, "external_id": name, "parameters": 1.2e8})
    client.log_metrics(run["id"], {"loss": {"steps": [1, 2], "values": [3.0, 2.5]}}, idempotency_key="k")
    code, out, _ = cli(capsys, "runs", "ls")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "ID",
        "TEAM",
        "NAME",
        "STATUS",
        "PARAMS",
        "TOKENS",
        "LOSS",
        "CREATED",
    ]
    assert [line.split()[2] for line in lines[1:]] == ["beta", "alpha"]
    assert "1.2e+08" in lines[1]
    code, out, _ = cli(capsys, "runs", "ls", "-q", "alp", "--json")
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["alpha"]
    code, out, _ = cli(capsys, "runs", "show", str(run["id"]))
    assert code == 0 and "name: beta" in out and f"url: {logged_in.url}/runs/{run['id']}/" in out
    assert out.splitlines()[-1].split() == ["loss", "2", "1", "2", "2.5"]
    code, _, err = cli(capsys, "runs", "show", "999")
    assert code == 1 and "404" in err


def test_series_export(logged_in: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    client = isoflop.Client()
    run = client.create_run({"team": "team-a", "name": "r", "external_id": "r"})
    client.log_metrics(
        run["id"], {"eval/loss": {"steps": [0, 10], "values": [3.0, 2.0]}}, idempotency_key="k"
    )
    out_file = tmp_path / "loss.csv"
    code, _, err = cli(capsys, "series", "export", str(run["id"]), "eval/loss", "-o", str(out_file))
    assert code == 0 and "Wrote" in err
    assert out_file.read_text() == "step,value,wall_time\n0,3.0,\n10,2.0,\n"


def test_reports_request_and_download(
    logged_in: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(
        capsys,
        "reports",
        "request",
        "--team",
        "team-a",
        "--scope",
        "study",
        "--param",
        "study=4",
        "--format",
        "pdf",
        "--format",
        "csv",
        "--wait",
    )
    assert code == 0 and ": done" in out and "/files/pdf" in out
    report_id = next(iter(logged_in.store.reports))
    assert logged_in.store.reports[report_id]["params"] == {"study": 4}
    target = tmp_path / "r.pdf"
    code, _, _ = cli(capsys, "reports", "download", str(report_id), "--format", "pdf", "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"%PDF")


def test_console_script_is_installed() -> None:
    import shutil
    import subprocess
    import sys

    exe = shutil.which("isoflop", path=os.path.dirname(sys.executable))
    assert exe is not None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"isoflop-sdk {isoflop.__version__}"


def test_progress_bar_draws_only_when_enabled() -> None:
    from isoflop._progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(2_000_000, "Uploading", stream=stream, enabled=True)
    bar.update(2_000_000)
    bar.close()
    assert "Uploading [##############################] 100% 2.0 MB/2.0 MB" in stream.getvalue()
    quiet = io.StringIO()
    ProgressBar(10, stream=quiet).update(5)  # StringIO is not a terminal
    assert quiet.getvalue() == ""
