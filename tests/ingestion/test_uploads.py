"""Uploads (page and REST) -> jobs -> stored catalog rows; idempotency; team scoping; every bad-input class."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import IngestFile, IngestJob
from ingestion.services import processing
from tests.ingestion.conftest import process_job
from tests.support.series import point_count, step_values, stored_points
from tracker.models import MetricSeries, SourceDocument, TrainingRun

pytestmark = pytest.mark.django_db

GOOD_CSV = b"step,loss,lr\n0,4.0,0.001\n10,3.5,0.001\n20,3.1,0.0009\n"
MANIFEST = (
    b"external_id: run-7\nname: r7\nparameters: 400M\ntokens: 8B\nhardware: H100-SXM5-80GB\n"
    b"gpu_count: 8\nprecision: bf16\nsynthetic_share: 0.2\ndata_sources: {web: 0.8, synthetic: 0.2}\n"
)


def _files(files: dict[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data) for name, data in files.items()]


def upload(client, team, files: dict[str, bytes]) -> IngestJob:
    r = client.post("/ingest/upload/", {"team": team.slug, "files": _files(files)})
    assert r.status_code == 302, r.content
    job = IngestJob.objects.get(pk=int(r["Location"].rstrip("/").rsplit("/", 1)[-1]))
    process_job(job)
    return job


@pytest.fixture
def editor_client(client, make_user, team_a):
    client.force_login(make_user(role="editor", team=team_a))
    return client


def _snapshot() -> tuple:
    return (
        list(TrainingRun.objects.order_by("pk").values_list("pk", "name", "parameters")),
        list(MetricSeries.objects.order_by("pk").values_list("pk", "n_points", "last_value")),
        [(sid, s, v) for sid, s, v, _ in stored_points()],
    )


def _csv_stored(editor_client, team_a) -> tuple:
    job = upload(editor_client, team_a, {"train.csv": GOOD_CSV})
    assert job.status == "done"
    return _snapshot()


def test_upload_run_log_and_manifest_lands_in_catalog(editor_client, team_a):
    job = upload(editor_client, team_a, {"train.csv": GOOD_CSV, "run.yaml": MANIFEST})
    assert (job.status, job.files_total, job.files_done) == ("done", 2, 2)
    assert job.bytes_done == job.bytes_total == len(GOOD_CSV) + len(MANIFEST)
    assert job.rows_done == 6 + 1
    run = TrainingRun.objects.select_related("hardware").get(external_id="run-7")
    assert (run.name, run.parameters, run.tokens, run.gpu_count, run.precision) == ("r7", 4e8, 8e9, 8, "bf16")
    assert (run.hardware.name, run.synthetic_share, run.data_sources) == (
        "H100-SXM5-80GB",
        0.2,
        {"web": 0.8, "synthetic": 0.2},
    )
    # The log uploaded with the manifest lands on the manifest's run, whichever file was processed first.
    assert TrainingRun.objects.count() == 1
    loss = MetricSeries.objects.get(run=run, name="loss")
    assert (loss.n_points, loss.min_step, loss.max_step, loss.last_value, loss.max_value) == (
        3,
        0,
        20,
        3.1,
        4.0,
    )
    assert step_values(loss.pk) == [
        (0, 4.0),
        (10, 3.5),
        (20, 3.1),
    ]
    f = IngestFile.objects.get(job=job, original_name="train.csv")
    assert (f.status, f.detected_format, f.kind, f.rows_done, f.errors) == (
        "done",
        "csv_wide",
        "run_log",
        6,
        [],
    )
    # Stored by content hash, never by the client's name.
    assert f.stored_path == f"ingest/{f.sha256}"
    assert f.document.sha256 == f.sha256


def test_same_file_twice_changes_nothing(editor_client, team_a):
    before = _csv_stored(editor_client, team_a)
    job2 = upload(editor_client, team_a, {"renamed.csv": GOOD_CSV})
    assert job2.status == "done"
    assert IngestFile.objects.get(job=job2).status == "duplicate"
    assert _snapshot() == before
    assert SourceDocument.objects.count() == 1


def test_same_file_in_another_team_is_ingested_there(client, make_user, team_a, team_b):
    user = make_user(role="editor", team=team_a)
    from core.roles import Role
    from tracker.models import Membership

    Membership.objects.create(user=user, team=team_b, role=Role.EDITOR)
    client.force_login(user)
    upload(client, team_a, {"t.csv": GOOD_CSV})
    upload(client, team_b, {"t.csv": GOOD_CSV})
    assert sorted(TrainingRun.objects.values_list("team__slug", flat=True)) == ["lab-a", "lab-b"]


def test_manifest_processed_after_log_still_joins_one_run(editor_client, team_a):
    r = editor_client.post(
        "/ingest/upload/", {"team": "lab-a", "files": _files({"run.yaml": MANIFEST, "t.csv": GOOD_CSV})}
    )
    job = IngestJob.objects.get(pk=int(r["Location"].rstrip("/").rsplit("/", 1)[-1]))
    for name in ("t.csv", "run.yaml"):  # the log first this time
        processing.ingest_file_process(file_id=IngestFile.objects.get(job=job, original_name=name).pk)
    run = TrainingRun.objects.get()
    assert (run.external_id, run.parameters, run.series.count()) == ("run-7", 4e8, 2)


def test_archive_is_expanded_into_member_files(editor_client, team_a):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logs/train.csv", GOOD_CSV)
        zf.writestr("logs/run.yaml", MANIFEST)
    job = upload(editor_client, team_a, {"bundle.zip": buf.getvalue()})
    files = {f.original_name: f for f in IngestFile.objects.filter(job=job)}
    assert files["bundle.zip"].status == "done" and files["bundle.zip"].kind == "archive"
    assert files["logs/train.csv"].parent_id == files["bundle.zip"].pk
    assert (files["logs/train.csv"].status, files["logs/run.yaml"].status) == ("done", "done")
    assert job.status == "done"
    assert point_count() == 6
    run = TrainingRun.objects.get()
    assert (run.external_id, sorted(run.series.values_list("name", flat=True))) == ("run-7", ["loss", "lr"])


def test_page_shows_per_file_errors_with_file_line_reason(editor_client, team_a):
    job = upload(editor_client, team_a, {"nan.csv": b"step,loss\n0,4.0\n10,nan\n20,3.1\n"})
    assert job.status == "partial"
    f = IngestFile.objects.get(job=job)
    assert f.status == "done"
    assert f.errors == [{"file": "nan.csv", "line": 3, "reason": f.errors[0]["reason"]}]
    assert "non-finite" in f.errors[0]["reason"]
    # The good rows are kept, the NaN row is not.
    assert step_values() == [(0, 4.0), (20, 3.1)]
    page = editor_client.get(f"/ingest/jobs/{job.pk}/").content.decode()
    assert "nan.csv, line 3: non-finite" in page
    data = editor_client.get(f"/api/ingest/jobs/{job.pk}/").json()
    assert data["status"] == "partial"
    assert data["files"][0]["errors"][0]["line"] == 3


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _truncated_tfevents(tmp: Path) -> bytes:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(tmp))
    for step in range(50):
        writer.add_scalar("loss", 4.0 - step * 0.01, step)
    writer.close()
    data = next(tmp.glob("events.out.tfevents.*")).read_bytes()
    return data[: len(data) - 7]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol3;</title></entry></feed>'
)


@pytest.mark.parametrize(
    "name,make,expect",
    [
        ("bomb.zip", lambda tmp: _zip({"zeros.csv": b"0" * (20 << 20)}), "ratio"),
        ("slip.zip", lambda tmp: _zip({"../../etc/evil.csv": GOOD_CSV}), ".."),
        ("feed.xml", lambda tmp: BILLION_LAUGHS, "unsafe XML"),
        ("run.yaml", lambda tmp: b"name: !!python/object/apply:os.system ['echo pwned']\n", "python"),
        ("latin1.csv", lambda tmp: b"step,loss\n0,4.0\n10,3\xe9\n", "UTF-8"),
        ("events.out.tfevents.1.host", _truncated_tfevents, "truncated"),
        ("paper.pdf", lambda tmp: b"step,loss\n0,9.0\n", "extension .pdf does not match"),
        ("points.jsonl", lambda tmp: b'{"step": 1, "loss": Infinity}\n', "non-finite"),
    ],
)
def test_bad_input_gives_clear_error_and_keeps_stored_data(
    editor_client, team_a, tmp_path, name, make, expect
):
    before = _csv_stored(editor_client, team_a)
    job = upload(editor_client, team_a, {name: make(tmp_path)})
    files = list(IngestFile.objects.filter(job=job))
    errors = [e for f in files for e in f.errors]
    assert errors, f"{name}: no error reported"
    assert all(e["file"] and e["reason"] for e in errors)
    assert any(name.split(".")[0] in e["file"] or name in e["file"] for e in errors)
    assert expect.lower() in " ".join(e["reason"] for e in errors).lower()
    assert job.status in ("failed", "partial")
    assert _snapshot() == before
    data = editor_client.get(f"/api/ingest/jobs/{job.pk}/").json()
    assert data["files"][0]["errors"][0]["reason"] == files[0].errors[0]["reason"]


def test_oversize_file_rejected_while_streaming_and_not_stored(editor_client, team_a, settings, tmp_path):
    import hashlib

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ISOFLOP_MAX_UPLOAD_BYTES = 1000
    before = _csv_stored(editor_client, team_a)
    job = upload(
        editor_client, team_a, {"huge.csv": b"step,loss\n" + b"1,2.0\n" * 500, "ok.csv": b"step,x\n1,2\n"}
    )
    big = IngestFile.objects.get(job=job, original_name="huge.csv")
    assert big.status == "failed"
    assert big.errors == [
        {"file": "huge.csv", "line": None, "reason": "file is larger than the 1000 byte upload limit"}
    ]
    assert (big.sha256, big.stored_path) == ("", "")
    assert IngestFile.objects.get(job=job, original_name="ok.csv").status == "done"
    assert job.status == "partial"
    # Only the two accepted files are on disk, under their hashes; no partial copy of the big one.
    stored = sorted(p.name for p in (tmp_path / "media" / "ingest").iterdir())
    assert stored == sorted(hashlib.sha256(d).hexdigest() for d in (GOOD_CSV, b"step,x\n1,2\n"))
    assert _snapshot()[0][: len(before[0])] == before[0]


def test_upload_page_needs_editor(client, make_user, team_a):
    client.force_login(make_user(role="viewer", team=team_a))
    assert "editor role" in client.get("/ingest/upload/").content.decode()
    r = client.post("/ingest/upload/", {"team": team_a.slug, "files": _files({"a.csv": GOOD_CSV})})
    assert r.status_code == 403
    assert not IngestJob.objects.exists()


def test_rest_api_auth_roles_and_team_scoping(client, make_user, team_a, team_b):
    from tracker.accounts.services import api_token_create

    editor = make_user(role="editor", team=team_a)
    viewer = make_user(role="viewer", team=team_a)
    _, editor_key = api_token_create(user=editor, name="ci")
    _, viewer_key = api_token_create(user=viewer, name="ci")

    def post(key, team):
        return client.post(
            "/api/ingest/",
            {"team": team, "files": _files({"a.csv": GOOD_CSV})},
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )

    assert post(None, "lab-a").status_code == 401
    assert post("isf_wrong", "lab-a").status_code == 401
    r = post(viewer_key, "lab-a")
    assert (r.status_code, r.json()["error"]) == (403, "uploading needs the editor role in this team")
    assert post(editor_key, "lab-b").status_code == 404
    assert not IngestJob.objects.exists()
    r = post(editor_key, "lab-a")
    assert r.status_code == 201
    job = IngestJob.objects.get(pk=r.json()["job"])
    assert (job.source, job.team, job.created_by) == ("api", team_a, editor)
    process_job(job)
    progress = client.get(r.json()["progress_url"], headers={"Authorization": f"Bearer {editor_key}"}).json()
    assert (progress["status"], progress["rows_done"], progress["files_done"]) == ("done", 6, 1)
    # Another team's job is a 404 on the page and the API.
    outsider = make_user(role="admin", team=team_b)
    client.force_login(outsider)
    assert client.get(f"/ingest/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/api/ingest/jobs/{job.pk}/").status_code == 404
    assert f"#{job.pk}" not in client.get("/ingest/jobs/").content.decode()


def test_tasks_are_queued_after_commit_and_refits_follow_new_runs(
    editor_client, team_a, django_capture_on_commit_callbacks
):
    from analytics.models import Study
    from analytics.tasks import study_refit
    from core.outbox import publish

    study = Study.objects.create(team=team_a, name="s", kind="chinchilla")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = editor_client.post("/ingest/upload/", {"team": "lab-a", "files": _files({"a.csv": GOOD_CSV})})
    assert r.status_code == 302
    # Nothing ran inside the request: one task waits for the commit.
    assert IngestFile.objects.get().status == "queued"
    assert not TrainingRun.objects.exists()
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        process_job(IngestJob.objects.get())
    assert point_count() == 6
    refits = [
        cb for cb in callbacks if getattr(cb, "func", None) is publish and cb.args[0] == study_refit.name
    ]
    assert [cb.args[1:] for cb in refits] == [(study.pk,)]
