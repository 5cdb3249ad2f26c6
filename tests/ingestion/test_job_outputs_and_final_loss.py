"""What a job shows for each file: links to the runs, papers and models it wrote, live progress within a
large file (visible while the file's transaction is still open), and the final loss computed at ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.urls import reverse

from ingestion.models import IngestFile, IngestFileProgress
from ingestion.services import catalog, progress
from tests.ingestion.conftest import post_standard, process_deliveries
from tests.ingestion.test_uploads import upload
from tracker.models import Model, Paper, TrainingRun

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def editor_client(client, make_user, team_a):
    client.force_login(make_user(role="editor", team=team_a))
    return client


def wandb_csv(n: int = 400, eval_every: int = 100) -> bytes:
    rows = ["_step,train/loss,eval/loss,train/lr"]
    for s in range(n):
        ev = f"{3.0 - s / 1000:.4f}" if s and s % eval_every == 0 else ""
        rows.append(f"{s},{3.1 - s / 1000:.4f},{ev},0.001")
    return ("\n".join(rows) + "\n").encode()


def test_final_loss_is_the_last_eval_loss_computed_at_ingest(editor_client, team_a):
    upload(editor_client, team_a, {"history.csv": wandb_csv()})
    run = TrainingRun.objects.get(team=team_a)
    assert run.final_loss == pytest.approx(3.0 - 300 / 1000)
    assert run.final_loss_provenance == "computed"
    assert run.final_loss_rule == "last eval/loss (step 300)"


def test_final_loss_without_eval_is_the_mean_of_the_last_20_training_points(editor_client, team_a):
    data = b"step,loss,lr\n" + b"".join(b"%d,%f,0.001\n" % (s, 4.0 - s / 100) for s in range(100))
    upload(editor_client, team_a, {"train.csv": data})
    run = TrainingRun.objects.get(team=team_a)
    assert run.final_loss == pytest.approx(4.0 - sum(range(80, 100)) / 20 / 100)
    assert run.final_loss_rule == "mean of the last 20 points of loss (steps 80\u201399)"


def test_a_megatron_log_gets_its_lm_loss_and_never_a_counter(editor_client, team_a):
    upload(editor_client, team_a, {"megatron.log": (FIXTURES / "runlogs" / "megatron.log").read_bytes()})
    run = TrainingRun.objects.get(team=team_a)
    assert run.final_loss is not None and "of lm loss" in run.final_loss_rule


def test_entered_and_reported_final_losses_are_kept_over_the_rule(client, integration, team_a):
    post_standard(
        client,
        {"type": "run.finished", "data": {"external_id": "r1", "final_loss": 2.2, "status": "finished"}},
        msg_id="m1",
    )
    process_deliveries()
    post_standard(
        client,
        {
            "type": "run.metrics",
            "data": {"external_id": "r1", "points": [{"step": 5, "name": "loss", "value": 2.9}]},
        },
        msg_id="m2",
    )
    process_deliveries()
    run = TrainingRun.objects.get(external_id="r1")
    assert (run.final_loss, run.final_loss_computed, run.final_loss_provenance) == (2.2, 2.9, "reported")
    run.final_loss, run.final_loss_source = 2.0, "entered"
    run.save()
    post_standard(
        client,
        {
            "type": "run.metrics",
            "data": {"external_id": "r1", "points": [{"step": 9, "name": "loss", "value": 2.5}]},
        },
        msg_id="m3",
    )
    process_deliveries()
    run.refresh_from_db()
    assert (run.final_loss, run.final_loss_computed, run.final_loss_provenance) == (2.0, 2.5, "entered")


def test_job_links_to_the_runs_papers_and_models_it_wrote(editor_client, team_a):
    job = upload(
        editor_client,
        team_a,
        {
            "history.csv": wandb_csv(),
            "refs.bib": (FIXTURES / "papers" / "refs.bib").read_bytes(),
            "README.md": (FIXTURES / "cards" / "tinystories_card.md").read_bytes(),
        },
    )
    assert job.status in ("done", "partial")
    run = TrainingRun.objects.get(team=team_a)
    files = {f.original_name: f for f in IngestFile.objects.filter(job=job)}
    assert list(files["history.csv"].runs.all()) == [run]
    assert files["refs.bib"].papers.count() == Paper.objects.count() > 0
    assert files["README.md"].catalog_models.count() >= 1
    body = editor_client.get(reverse("ingestion:job-detail", args=[job.pk])).content.decode()
    assert f'href="{reverse("runs:detail", args=[run.pk])}" class="out-run">run history.csv</a>' in body
    paper = Paper.objects.first()
    assert f'href="{reverse("catalog:paper-detail", args=[paper.pk])}" class="out-paper"' in body
    model = files["README.md"].catalog_models.first()
    assert f'href="{reverse("catalog:model-detail", args=[model.pk])}" class="out-model"' in body
    api = editor_client.get(reverse("api:ingest-job", args=[job.pk])).json()
    outputs = {f["name"]: f["outputs"] for f in api["files"]}
    assert outputs["history.csv"] == [
        {"kind": "run", "id": run.pk, "name": "history.csv", "url": reverse("runs:detail", args=[run.pk])}
    ]
    assert {o["kind"] for o in outputs["README.md"]} == {"model"}
    assert Model.objects.filter(pk__in=[o["id"] for o in outputs["README.md"]]).count() == len(
        outputs["README.md"]
    )


def _progress_seen_from_another_connection(file_id: int) -> tuple | None:
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT stage, rows_done, rows_total FROM ingestion_ingestfileprogress WHERE file_id = %s",
                [file_id],
            )
            return cursor.fetchone()
    finally:
        other.close()


def test_progress_within_a_file_is_visible_while_its_transaction_is_open(
    editor_client,
    team_a,
    monkeypatch,
):
    # 6 series of 3,000 points; COPY groups of 6,000 rows: stored counts 6k, 12k, 18k arrive mid-transaction.
    n = 3000
    header = "step," + ",".join(f"m{i}" for i in range(6))
    body = "\n".join(f"{s}," + ",".join(f"{(i + 1) / (s + 1):.6f}" for i in range(6)) for s in range(n))
    monkeypatch.setattr(catalog, "COPY_GROUP_ROWS", 6000)
    monkeypatch.setattr(progress, "MIN_INTERVAL_S", 0.0)
    seen: list[tuple] = []
    real_insert = catalog.points_insert_new

    def insert_and_look(*, batches):
        rows = real_insert(batches=batches)
        file_id = IngestFile.objects.get(original_name="six.csv").pk
        seen.append(_progress_seen_from_another_connection(file_id))
        return rows

    monkeypatch.setattr(catalog, "points_insert_new", insert_and_look)
    job = upload(editor_client, team_a, {"six.csv": (header + "\n" + body + "\n").encode()})
    assert job.status == "done" and job.rows_done == 6 * n
    # Seen from outside after each COPY group, before the file's transaction committed.
    assert seen == [("storing", 0, 6 * n), ("storing", 6000, 6 * n), ("storing", 12000, 6 * n)]
    file = IngestFile.objects.get(job=job)
    assert (file.progress.stage, file.progress.rows_done, file.progress.rows_total) == ("done", 6 * n, 6 * n)


def test_job_page_shows_progress_of_a_running_file(editor_client, team_a):
    job = upload(editor_client, team_a, {"history.csv": wandb_csv()})
    file = IngestFile.objects.get(job=job)
    IngestFile.objects.filter(pk=file.pk).update(status="running")
    IngestFileProgress.objects.filter(pk=file.pk).update(
        stage="storing", rows_done=400_000, rows_total=1_000_000
    )
    body = editor_client.get(reverse("ingestion:job-detail", args=[job.pk])).content.decode()
    assert 'storing: <progress max="1000000" value="400000"></progress> 400000 / 1000000 rows' in body
    api = editor_client.get(reverse("api:ingest-job", args=[job.pk])).json()
    assert api["files"][0]["progress"]["stage"] == "storing"
    assert (api["files"][0]["progress"]["rows_done"], api["files"][0]["progress"]["rows_total"]) == (
        400_000,
        1_000_000,
    )


def test_job_progress_query_count_does_not_grow_with_files(
    editor_client, team_a, django_assert_max_num_queries
):
    files = {f"run{i}.csv": wandb_csv(n=50 + i) for i in range(6)}
    job = upload(editor_client, team_a, files)
    assert IngestFile.objects.filter(job=job).count() == 6
    # session, user, job, files with progress, runs, papers, models of those files
    with django_assert_max_num_queries(7):
        assert editor_client.get(reverse("api:ingest-job", args=[job.pk])).status_code == 200
    with django_assert_max_num_queries(7):
        assert editor_client.get(reverse("ingestion:job-detail", args=[job.pk])).status_code == 200
