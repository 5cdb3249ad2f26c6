from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import FAST, python
from fake_server import TOKEN, FakeServer

import isoflop
from isoflop import SpoolError
from isoflop.spool import SpoolWriter, read_records, split_series, sync_one


def offline_run(tmp_path: Path, steps: int, **options: object) -> Path:
    run = isoflop.init(
        team="team-a",
        name="offline run",
        mode="offline",
        spool_dir=tmp_path / "spool",
        options=dataclasses.replace(FAST, batch_points=100, **options),  # type: ignore[arg-type]
        external_id="ext-1",
    )
    assert run.mode == "offline" and run.id is None
    for step in range(steps):
        run.log({"loss": 1.0 / (step + 1), "lr": 1e-3}, step=step)
    run.finish(final_loss=0.1)
    assert run.spool_dir is not None
    return run.spool_dir


def test_offline_run_writes_create_batches_finish(tmp_path: Path) -> None:
    spool = offline_run(tmp_path, 500)
    records = [r.data for r in read_records(spool)]
    assert records[0]["kind"] == "create" and records[0]["body"]["external_id"] == "ext-1"
    assert records[-1] == {"kind": "finish", "body": {"status": "finished", "final_loss": 0.1, "summary": {}}}
    batches = records[1:-1]
    assert [b["key"] for b in batches] == [f"ext-1-{i}" for i in range(len(batches))]
    assert sum(b["points"] for b in batches) == 1000


def test_sync_is_exactly_once_and_a_second_sync_sends_nothing(tmp_path: Path, server: FakeServer) -> None:
    spool = offline_run(tmp_path, 500)
    [first] = isoflop.sync(spool, base_url=server.url, token=TOKEN)
    assert first.finished and first.points_sent == 1000 and first.duplicate_batches == 0
    run = server.store.only_run()
    server.store.assert_exactly_once(run["id"], range(500), ["loss", "lr"])
    assert (run["status"], run["final_loss"]) == ("finished", 0.1)
    requests = len(server.store.requests)
    [second] = isoflop.sync(spool, base_url=server.url, token=TOKEN)
    assert second.already_synced and second.run_id == run["id"]
    assert len(server.store.requests) == requests  # not even a request


def test_sync_without_the_progress_marker_still_stores_nothing_twice(
    tmp_path: Path, server: FakeServer
) -> None:
    spool = offline_run(tmp_path, 300)
    isoflop.sync(spool, base_url=server.url, token=TOKEN)
    (spool / "sync-state.json").unlink()  # e.g. the spool was copied to another machine and synced again
    [again] = isoflop.sync(spool, base_url=server.url, token=TOKEN)
    assert again.points_sent == 600 and again.duplicate_batches == again.records_sent - 2
    server.store.assert_exactly_once(server.store.only_run()["id"], range(300), ["loss", "lr"])


def test_sync_resumes_after_a_crash_mid_sync(tmp_path: Path, server: FakeServer) -> None:
    spool = offline_run(tmp_path, 500)
    # The third batch is stored but its answer never arrives; with no retries the sync dies right there,
    # the worst moment: the server has the batch, the progress marker does not.
    server.store.reset(r"/metrics/$", lost=True, after=2)
    with pytest.raises(isoflop.TransportError):
        sync_one(spool, isoflop.Client(server.url, TOKEN, retry_for=0))
    state = json.loads((spool / "sync-state.json").read_text())
    assert state["run_id"] and not state.get("complete")
    assert server.store.metric_requests == 3
    [resumed] = isoflop.sync(spool, base_url=server.url, token=TOKEN)
    assert resumed.records_sent == 12 - 3  # create + 10 batches + finish, less what was acknowledged
    assert resumed.duplicate_batches == 1  # the one in flight at the crash, recognised by its key
    server.store.assert_exactly_once(resumed.run_id or 0, range(500), ["loss", "lr"])


def test_sync_killed_mid_way_then_rerun_is_exactly_once(tmp_path: Path, server: FakeServer) -> None:
    spool = offline_run(tmp_path, 2000)  # 40 batches of 100 points
    server.store.metrics_delay = 0.02
    proc = subprocess.Popen(
        [sys.executable, "-m", "isoflop", "--url", server.url, "--token", TOKEN, "sync", str(spool)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while server.store.metric_requests < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_at_kill = server.store.metric_requests
    assert 10 <= stored_at_kill < 40
    server.store.metrics_delay = 0
    [resumed] = isoflop.sync(spool, base_url=server.url, token=TOKEN)
    assert resumed.finished
    assert resumed.records_sent < 40  # resumed from the marker, not from the start
    assert resumed.duplicate_batches <= 1
    server.store.assert_exactly_once(resumed.run_id or 0, range(2000), ["loss", "lr"])


def test_writer_killed_mid_run_leaves_a_syncable_prefix(tmp_path: Path, server: FakeServer) -> None:
    code = textwrap.dedent(f"""
        import isoflop, itertools
        run = isoflop.init(team="team-a", name="crash", mode="offline", spool_dir={str(tmp_path / "spool")!r},
                           options=isoflop.Options(batch_points=50, flush_interval=0.001, fsync_interval=0))
        for step in itertools.count():
            run.log({{"loss": 1.0, "acc": 0.5}}, step=step)
    """)
    proc = python(code)
    deadline = time.monotonic() + 20
    segment = None
    while time.monotonic() < deadline:
        segments = list((tmp_path / "spool").glob("*/seg-000000.jsonl"))
        if segments and segments[0].stat().st_size > 20_000:
            segment = segments[0]
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert segment is not None
    with open(segment, "ab") as fh:
        fh.write(b'{"kind": "metrics", "key": "torn')  # what a crash mid-write can leave
    records = [r.data for r in read_records(segment.parent)]
    assert records[-1]["kind"] == "metrics"
    logged = sum(r["points"] for r in records[1:])
    [result] = isoflop.sync(segment.parent, base_url=server.url, token=TOKEN)
    assert not result.finished and result.points_sent == logged
    run = server.store.only_run()
    assert run["status"] == "running"  # no finish record: left running...
    server.store.assert_exactly_once(run["id"], range(logged // 2), ["loss", "acc"])  # a prefix, in order
    [again] = isoflop.sync(segment.parent, base_url=server.url, token=TOKEN, fail_unfinished=True)
    assert again.finished and again.points_sent == 0
    assert run["status"] == "failed"  # ...unless asked to mark it failed


def test_corrupt_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    spool = offline_run(tmp_path, 10)
    segment = spool / "seg-000000.jsonl"
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    with pytest.raises(SpoolError, match="corrupt record at byte"):
        list(read_records(spool))


def test_segments_rotate_and_sync_reads_across_them(tmp_path: Path, server: FakeServer) -> None:
    writer = SpoolWriter(tmp_path / "s", segment_bytes=2000)
    writer.write_create({"team": "team-a", "name": "r", "external_id": "rot"})
    for i in range(30):
        writer.write_metrics(f"rot-{i}", {"x": {"steps": [i], "values": [1.0], "wall_times": [0.0]}}, 1)
    writer.write_finish({"status": "finished", "final_loss": None, "summary": {}})
    writer.close()
    assert len(list((tmp_path / "s").glob("seg-*.jsonl"))) > 1
    [result] = isoflop.sync(tmp_path / "s", base_url=server.url, token=TOKEN)
    assert result.records_sent == 32
    server.store.assert_exactly_once(result.run_id or 0, range(30), ["x"])


def test_sync_a_folder_of_spools(tmp_path: Path, server: FakeServer) -> None:
    for n in range(3):
        run = isoflop.init(team="team-a", name=f"r{n}", mode="offline", spool_dir=tmp_path / "spool")
        run.log({"loss": 1.0})
        run.finish()
    results = isoflop.sync(tmp_path / "spool", base_url=server.url, token=TOKEN)
    assert len(results) == 3 and all(r.finished for r in results)
    assert sorted(r["name"] for r in server.store.runs.values()) == ["r0", "r1", "r2"]


def test_a_second_concurrent_sync_is_refused(tmp_path: Path, server: FakeServer) -> None:
    import fcntl

    spool = offline_run(tmp_path, 10)
    fd = os.open(spool / ".sync.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(SpoolError, match="another sync"):
            isoflop.sync(spool, base_url=server.url, token=TOKEN)
    finally:
        os.close(fd)


def test_split_series_halves_points() -> None:
    series = {
        "a": {"steps": [1, 2, 3], "values": [1.0, 2.0, 3.0], "wall_times": [0.0, 0.0, 0.0]},
        "b": {"steps": [1, 2], "values": [5.0, 6.0], "wall_times": [0.0, 0.0]},
    }
    first, second = split_series(series)
    assert first == {"a": {"steps": [1, 2], "values": [1.0, 2.0], "wall_times": [0.0, 0.0]}}
    assert second == {
        "a": {"steps": [3], "values": [3.0], "wall_times": [0.0]},
        "b": {"steps": [1, 2], "values": [5.0, 6.0], "wall_times": [0.0, 0.0]},
    }
