from __future__ import annotations

import time
from pathlib import Path

import pytest
from fake_server import TOKEN, FakeServer

import isoflop
from isoflop import APIError, TransportError
from isoflop._retry import Backoff


def test_error_body_is_parsed(client: isoflop.Client) -> None:
    with pytest.raises(APIError) as info:
        client.create_run({"team": "team-a", "name": "", "external_id": "x"})
    err = info.value
    assert (err.status, err.code, err.message, err.detail) == (
        400,
        "invalid",
        "name is required",
        {"name": "required"},
    )
    assert not err.transient


def test_bad_token_is_not_retried(server: FakeServer) -> None:
    with isoflop.Client(server.url, "wrong") as c, pytest.raises(APIError) as info:
        c.me()
    assert info.value.status == 401
    assert server.store.requests == [("GET", "/api/me/")]


def test_5xx_and_429_are_retried_honouring_retry_after(server: FakeServer, client: isoflop.Client) -> None:
    server.store.fail("/api/me/", method="GET", times=2, status=503)
    server.store.fail("/api/me/", method="GET", times=1, status=429, retry_after="0.3")
    started = time.monotonic()
    assert client.me()["username"] == "alice"
    assert time.monotonic() - started >= 0.3
    assert len(server.store.requests) == 4


def test_connection_cut_is_retried(server: FakeServer, client: isoflop.Client) -> None:
    server.store.reset("/api/me/", method="GET", times=2)
    assert client.me()["username"] == "alice"
    assert len(server.store.requests) == 3


def test_retries_stop_after_retry_for(server: FakeServer) -> None:
    server.stop()
    c = isoflop.Client(server.url, TOKEN, retry_for=0.3, backoff=Backoff(0.01, 0.05))
    started = time.monotonic()
    with pytest.raises(TransportError):
        c.me()
    assert time.monotonic() - started < 2


def test_create_run_is_idempotent_on_external_id(client: isoflop.Client) -> None:
    body = {"team": "team-a", "name": "r", "external_id": "abc"}
    first, second = client.create_run(body), client.create_run(body)
    assert first["id"] == second["id"]


def test_list_runs_follows_cursors_and_filters(client: isoflop.Client) -> None:
    for i in range(7):
        client.create_run(
            {"team": "team-a", "name": f"run-{i}", "external_id": f"e{i}", "tags": ["x"] if i % 2 else []}
        )
    assert [r["name"] for r in client.list_runs(page_size=3)] == [f"run-{i}" for i in range(6, -1, -1)]
    assert len(list(client.list_runs(page_size=3, limit=4))) == 4
    assert [r["name"] for r in client.list_runs(tag="x")] == ["run-5", "run-3", "run-1"]
    assert [r["name"] for r in client.list_runs(q="RUN-2")] == ["run-2"]


def test_export_series_streams_csv_to_a_file(client: isoflop.Client, tmp_path: Path) -> None:
    run = client.create_run({"team": "team-a", "name": "r", "external_id": "abc"})
    client.log_metrics(
        run["id"],
        {"train/loss": {"steps": [1, 2], "values": [2.5, None], "wall_times": [10.0, 11.0]}},
        idempotency_key="k",
    )
    out = tmp_path / "loss.csv"
    n = client.export_series(run["id"], "train/loss", out)
    assert out.read_text() == "step,value,wall_time\n1,2.5,10.0\n2,,11.0\n"
    assert n == out.stat().st_size


def test_failed_download_leaves_no_file(client: isoflop.Client, tmp_path: Path) -> None:
    run = client.create_run({"team": "team-a", "name": "r", "external_id": "abc"})
    with pytest.raises(APIError) as info:
        client.export_series(run["id"], "nope", tmp_path / "x.csv")
    assert info.value.status == 404
    assert list(tmp_path.glob("*x.csv*")) == []


def test_metrics_body_is_the_same_json_as_one_dumps() -> None:
    import json

    from isoflop.client import encode_series

    series = {
        'a/"é': {"steps": [1, 2], "values": [1.5, None], "wall_times": [1.0, 2.0]},
        "b": {"steps": [], "values": []},
    }
    assert encode_series(series) == json.dumps({"series": series}, separators=(",", ":")).encode()
    with pytest.raises(ValueError):
        encode_series({"x": {"steps": [1], "values": [float("nan")]}})  # NaN must have become null before
