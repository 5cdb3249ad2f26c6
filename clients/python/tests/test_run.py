from __future__ import annotations

import dataclasses
import logging
import math
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import FAST, python, start_run
from fake_server import TOKEN, FakeServer

import isoflop
from isoflop import APIError, IsoflopError


def metrics_posts(server: FakeServer) -> int:
    return sum(1 for m, p in server.store.requests if p.endswith("/metrics/"))


def test_log_and_finish_store_every_point_once(server: FakeServer) -> None:
    run = start_run(server, config={"lr": 3e-4, "bad": math.nan}, parameters=1.2e8, tokens=2.4e9, tags=["a"])
    assert run.url == f"{server.url}/runs/{run.id}/"
    for step in range(1000):
        run.log({"loss": 1.0 / (step + 1), "lr": 3e-4}, step=step)
    run.finish(final_loss=0.25)
    stored = server.store.run(run.id)
    assert (stored["status"], stored["final_loss"], stored["config"]) == (
        "finished",
        0.25,
        {"lr": 3e-4, "bad": None},
    )
    assert (stored["parameters"], stored["tokens"], stored["tags"]) == (1.2e8, 2.4e9, ["a"])
    server.store.assert_exactly_once(run.id, range(1000), ["loss", "lr"])
    assert run.stats()["points_sent"] == 2000


def test_batches_by_point_count(server: FakeServer) -> None:
    options = dataclasses.replace(FAST, batch_points=100, flush_interval=30)
    run = start_run(server, options=options)
    for step in range(500):
        run.log({"a": step, "b": step}, step=step)
    run.finish()
    assert metrics_posts(server) == 10  # 1000 points, 100 per request
    server.store.assert_exactly_once(run.id, range(500), ["a", "b"])


def test_small_batches_are_flushed_by_time(server: FakeServer) -> None:
    run = start_run(server, options=dataclasses.replace(FAST, flush_interval=0.05))
    run.log({"loss": 1.0})
    deadline = time.monotonic() + 3
    while server.store.n_points(run.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.store.n_points(run.id) == 1  # before finish()
    run.finish()


def test_steps_default_to_previous_plus_one_and_nonfinite_values_are_null(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    run = start_run(server)
    run.log({"loss": math.nan})
    run.log({"loss": math.inf})
    run.log({"loss": 2.0}, step=10)
    run.log({"loss": 1.0, "note": "not a number"})
    with caplog.at_level(logging.WARNING, logger="isoflop"):
        run.finish()
    points = server.store.series(run.id, "loss")
    assert [(step, value) for step, value, _ in points] == [(0, None), (1, None), (10, 2.0), (11, 1.0)]
    assert all(abs((wall or 0) - time.time()) < 60 for _, _, wall in points)
    assert server.store.series(run.id, "note") == []
    assert "non-numeric value 'not a number'" in caplog.text


def test_transient_failures_are_retried_with_the_same_key(server: FakeServer) -> None:
    server.store.fail(r"/metrics/$", times=3, status=503)
    server.store.fail(r"/metrics/$", times=2, status=429, retry_after="0.1")
    server.store.reset(r"/metrics/$", times=2)  # connection reset before the server read it
    run = start_run(server)
    for step in range(300):
        run.log({"loss": float(step)}, step=step)
    run.finish()
    server.store.assert_exactly_once(run.id, range(300), ["loss"])
    assert run.stats()["retries"] >= 7
    assert run.stats()["points_spooled"] == 0


def test_a_lost_answer_never_stores_a_batch_twice(server: FakeServer) -> None:
    # The server stores the batch, then the connection dies before the answer: the SDK must resend, and
    # the Idempotency-Key must make the resend a no-op.
    server.store.reset(r"/metrics/$", times=3, lost=True)
    run = start_run(server)
    for step in range(200):
        run.log({"loss": float(step)}, step=step)
    run.finish()
    server.store.assert_exactly_once(run.id, range(200), ["loss"])
    assert server.store.duplicate_requests == 3


def test_batches_are_split_when_the_server_limit_is_lower(server: FakeServer) -> None:
    server.store.max_points = 30
    run = start_run(server, options=dataclasses.replace(FAST, batch_points=100, flush_interval=30))
    for step in range(100):
        run.log({"a": step}, step=step)
    run.finish()
    server.store.assert_exactly_once(run.id, range(100), ["a"])
    assert run.stats()["points_dropped"] == 0


def test_backpressure_bounds_memory_while_the_server_is_slow(server: FakeServer) -> None:
    server.store.metrics_delay = 0.03
    options = dataclasses.replace(FAST, batch_points=100, max_buffer_points=300, block_timeout=None)
    run = start_run(server, options=options)
    peak = 0
    started = time.monotonic()
    for step in range(1000):
        run.log({"a": 1.0, "b": 2.0}, step=step)
        peak = max(peak, run.stats()["points_buffered"])
    blocked = time.monotonic() - started
    run.finish()
    assert peak <= 300 + 2  # the bound plus one log() call
    assert blocked >= 0.03 * (2000 - 300 - 100) / 100  # log() waited for the server: backpressure
    server.store.assert_exactly_once(run.id, range(1000), ["a", "b"])
    assert run.stats()["points_spooled"] == 0


def test_a_full_buffer_with_the_server_down_spills_to_the_spool(server: FakeServer, tmp_path: Path) -> None:
    options = dataclasses.replace(
        FAST,
        batch_points=100,
        max_buffer_points=300,
        block_timeout=0.3,
        offline_after=60,
        sync_on_finish=False,
    )
    run = start_run(server, options=options, spool_dir=tmp_path / "spool")
    server.stop()
    peak = 0
    started = time.monotonic()
    for step in range(5000):
        run.log({"a": 1.0}, step=step)
        peak = max(peak, run.stats()["points_buffered"])
    assert time.monotonic() - started < 5  # blocked ~block_timeout once, then the spool took it
    assert peak <= 301
    run.finish(timeout=1)
    assert run.stats()["points_spooled"] == 5000
    assert run.spool_dir is not None and run.spool_dir.parent == tmp_path / "spool"
    server.start()
    [result] = isoflop.sync(run.spool_dir, base_url=server.url, token=TOKEN)
    assert result.finished and result.run_id == run.id
    server.store.assert_exactly_once(run.id, range(5000), ["a"])
    assert server.store.run(run.id)["status"] == "finished"


def test_server_restart_mid_run_is_complete_and_exactly_once(server: FakeServer) -> None:
    run = start_run(server)
    server.store.reset(r"/metrics/$", times=1, lost=True)
    for step in range(300):
        run.log({"loss": 1.0, "acc": 0.5}, step=step)
        time.sleep(0.001)
    server.stop()  # the server goes away for a couple of seconds...
    outage_end = time.monotonic() + 1.5
    step = 300
    while time.monotonic() < outage_end:
        run.log({"loss": 1.0, "acc": 0.5}, step=step)
        step += 1
        time.sleep(0.001)
    server.start()  # ...and comes back on the same port with its data
    for _ in range(300):
        run.log({"loss": 1.0, "acc": 0.5}, step=step)
        step += 1
    run.finish()
    assert run.stats()["retries"] > 0 and run.stats()["points_spooled"] == 0
    server.store.assert_exactly_once(run.id, range(step), ["loss", "acc"])
    assert server.store.run(run.id)["status"] == "finished"


def test_long_outage_falls_back_to_the_spool_then_syncs_at_finish(server: FakeServer) -> None:
    run = start_run(server, options=dataclasses.replace(FAST, offline_after=0.3))
    run.log({"loss": 1.0}, step=0)
    server.stop()
    for step in range(1, 500):
        run.log({"loss": 1.0}, step=step)
        time.sleep(0.002)
    assert run.stats()["points_spooled"] > 0  # gave up on the server after offline_after
    server.start()
    for step in range(500, 600):
        run.log({"loss": 1.0}, step=step)
    run.finish(final_loss=0.5)
    assert run.status == "synced"
    server.store.assert_exactly_once(run.id, range(600), ["loss"])
    assert server.store.run(run.id)["final_loss"] == 0.5


def test_server_down_at_init_starts_on_the_spool(server: FakeServer) -> None:
    server.stop()
    run = start_run(server, options=dataclasses.replace(FAST, init_timeout=0.2))
    assert run.id is None and run.spool_dir is not None
    for step in range(100):
        run.log({"loss": 1.0}, step=step)
    server.start()
    run.finish()
    assert run.id is not None and run.url == f"{server.url}/runs/{run.id}/"
    server.store.assert_exactly_once(run.id, range(100), ["loss"])


def test_refusals_at_init_raise(server: FakeServer) -> None:
    with pytest.raises(APIError, match="403"):
        isoflop.init(team="team-b", name="x", base_url=server.url, token=TOKEN)
    with pytest.raises(APIError, match="401"):
        isoflop.init(team="team-a", name="x", base_url=server.url, token="wrong")


def test_context_manager_marks_a_crash_failed(server: FakeServer) -> None:
    with pytest.raises(ZeroDivisionError), start_run(server) as run:
        run.log({"loss": 1.0})
        1 / 0  # noqa: B018
    assert server.store.run(run.id)["status"] == "failed"
    with pytest.raises(IsoflopError, match="finished"):
        run.log({"loss": 1.0})


def test_log_is_thread_safe_enough(server: FakeServer) -> None:
    run = start_run(server)

    def worker(offset: int) -> None:
        for i in range(500):
            run.log({f"m{offset}": float(i)}, step=i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.finish()
    server.store.assert_exactly_once(run.id, range(500), ["m0", "m1", "m2", "m3"])


@pytest.mark.parametrize(("body", "status"), [("pass", "finished"), ("raise SystemError('boom')", "failed")])
def test_exit_without_finish_flushes_and_finishes(server: FakeServer, body: str, status: str) -> None:
    code = textwrap.dedent(f"""
        import isoflop
        run = isoflop.init(team="team-a", name="atexit", options=isoflop.Options(flush_interval=30))
        for step in range(250):
            run.log({{"loss": 1.0}}, step=step)
        {body}
    """)
    proc = python(code, env={"ISOFLOP_URL": server.url, "ISOFLOP_TOKEN": TOKEN})
    _out, err = proc.communicate(timeout=30)
    run = server.store.only_run()
    assert run["status"] == status, err
    server.store.assert_exactly_once(run["id"], range(250), ["loss"])


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_neither_logs_nor_finishes_the_parents_run(server: FakeServer) -> None:
    import os

    run = start_run(server)
    run.log({"loss": 1.0}, step=0)
    pid = os.fork()
    if pid == 0:  # child: like a fork-started data loader worker touching the run
        code = 0
        try:
            run.log({"loss": 9.0}, step=1)
            run.finish(status="failed")
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    run.log({"loss": 2.0}, step=1)
    run.finish()
    assert server.store.run(run.id)["status"] == "finished"
    assert [v for _, v, _ in server.store.series(run.id, "loss")] == [1.0, 2.0]


def test_a_finish_the_server_keeps_refusing_is_kept_in_the_spool(server: FakeServer) -> None:
    run = start_run(server)
    for step in range(100):
        run.log({"loss": 1.0}, step=step)
    server.store.fail(r"/finish/$", times=10_000, status=503)
    run.finish(final_loss=0.5, timeout=0.5)
    assert server.store.run(run.id)["status"] == "running"
    assert run.spool_dir is not None
    server.store.faults.clear()
    [result] = isoflop.sync(run.spool_dir, base_url=server.url, token=TOKEN)
    assert result.finished and result.points_sent == 0  # the metrics had gone online already
    assert (server.store.run(run.id)["status"], server.store.run(run.id)["final_loss"]) == ("finished", 0.5)
    server.store.assert_exactly_once(run.id, range(100), ["loss"])
