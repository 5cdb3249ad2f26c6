from __future__ import annotations

import pytest
from conftest import start_run
from fake_server import FakeServer

from isoflop._rank import process_rank


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"RANK": "3", "LOCAL_RANK": "1"}, 3),
        ({"RANK": "0", "SLURM_PROCID": "2"}, 0),  # torchrun under srun: the global RANK decides
        ({"SLURM_PROCID": "5"}, 5),
        ({"OMPI_COMM_WORLD_RANK": "2"}, 2),
        ({"PMI_RANK": "7"}, 7),
        ({"LOCAL_RANK": "1"}, 1),
        ({"RANK": "", "LOCAL_RANK": "0"}, 0),
    ],
)
def test_process_rank(env: dict[str, str], rank: int) -> None:
    assert process_rank(env) == rank


@pytest.mark.parametrize("var", ["RANK", "LOCAL_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"])
def test_only_rank_zero_logs(server: FakeServer, monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "1")
    run = start_run(server)
    run.log({"loss": 1.0})
    with run:
        run.log({"loss": 2.0}, step=5)
    run.finish()
    assert run.mode == "disabled" and run.id is None and run.url is None
    assert server.store.requests == []  # not even a connection


def test_rank_zero_only_can_be_turned_off(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    run = start_run(server, rank_zero_only=False, external_id="rank-1-run")
    run.log({"loss": 1.0}, step=0)
    run.finish()
    server.store.assert_exactly_once(run.id or 0, range(1), ["loss"])


def test_disabled_mode_is_a_no_op(server: FakeServer) -> None:
    run = start_run(server, mode="disabled")
    run.log({"loss": 1.0})
    run.finish()
    assert run.mode == "disabled" and server.store.requests == []
