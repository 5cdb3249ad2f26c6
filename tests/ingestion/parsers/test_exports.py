"""W&B and TensorBoard CSV exports, HF trainer_state.json, MLflow run folders, nvidia-smi variants, limits."""

from __future__ import annotations

import json

import pytest

from ingestion.parsers import points, runlogs
from ingestion.parsers.dispatch import detect_format, parse_document
from ingestion.parsers.records import ParseError, RowError


def _series(doc):
    return {(s.run, s.name): s for s in doc.run_log.series}


WANDB_PANEL = (
    '"Step","swept-galaxy-5 - train_loss","swept-galaxy-5 - train_loss__MIN","swept-galaxy-5 - train_loss__MAX",'
    '"swept-galaxy-5 - _step","swept-galaxy-5 - _step__MIN","swept-galaxy-5 - _step__MAX"\n'
    '"12","0.0368","0.0368","0.0368","12","12","12"\n'
    '"14","0.0982","0.0982","0.0982","14","14","14"\n'
    '"20","","","","20","20","20"\n'
)


def test_wandb_panel_export_keeps_only_the_metric():
    doc = parse_document("wandb_export_2024-01-01T00_00_00.csv", WANDB_PANEL.encode())
    assert doc.fmt == "wandb_panel_csv"
    assert list(_series(doc)) == [("", "train_loss")]
    loss = _series(doc)["", "train_loss"]
    assert (loss.steps, loss.values) == ([12, 14], [0.0368, 0.0982])


def test_wandb_panel_export_of_several_runs_keeps_run_names():
    text = '"Step","a - loss","a - loss__MIN","a - loss__MAX","b - loss","b - loss__MIN","b - loss__MAX"\n1,2.0,2,2,3.0,3,3\n'
    doc = parse_document("panel.csv", text.encode())
    assert sorted(_series(doc)) == [("a", "loss"), ("b", "loss")]


def test_wandb_panel_with_time_axis_and_metrics_is_refused():
    text = '"Relative Time (Process)","a - loss"\n1.5,2.0\n'
    with pytest.raises(ParseError, match="x-axis 'Relative Time \\(Process\\)'") as info:
        parse_document("panel.csv", text.encode())
    assert info.value.line == 1


WANDB_SYSTEM = (
    "system.gpu.0.powerWatts,system.gpu.1.powerWatts,system.gpu.0.gpu,_runtime,_timestamp,_wandb\n"
    "100,200,95,10,1700000000,true\n"
    "300,200,96,3610,1700003600,true\n"
)


def test_wandb_system_metrics_feed_energy():
    doc = parse_document("system.csv", WANDB_SYSTEM.encode())
    assert doc.fmt == "wandb_system_csv"
    power = doc.run_log.power
    # GPU 0: (100 + 300) / 2 W for 1 h = 0.2 kWh; GPU 1: 200 W for 1 h = 0.2 kWh.
    assert (power.energy_kwh, power.gpu_hours, power.gpu_count) == (pytest.approx(0.4), 2.0, 2)
    assert (power.start, power.end) == (1700000000.0, 1700003600.0)
    assert doc.run_log.series == []


def test_wandb_system_panel_uses_relative_time():
    text = '"Relative Time (Process)","r - system/gpu.0.powerWatts","r - system/gpu.0.powerWatts__MIN"\n0,100,100\n1800,100,100\n'
    power = parse_document("panel.csv", text.encode()).run_log.power
    assert (power.energy_kwh, power.gpu_hours, power.start) == (pytest.approx(0.05), 0.5, None)


def test_wandb_history_with_power_columns_gives_series_and_energy():
    text = "_step,_runtime,_timestamp,loss,system.gpu.0.powerWatts\n0,0,1700000000,3.0,100\n1,3600,1700003600,2.0,100\n"
    doc = parse_document("history.csv", text.encode())
    assert [s.name for s in doc.run_log.series] == ["loss"]
    assert doc.run_log.power.energy_kwh == pytest.approx(0.1)


def test_wandb_history_junk_columns_are_dropped():
    text = ",_step,_runtime,_timestamp,train/loss,Unnamed: 0,_wandb\n0,0,1.0,1700000000,2.5,0,\n1,1,2.0,1700000001,2.4,1,\n"
    doc = parse_document("history.csv", text.encode())
    assert [s.name for s in doc.run_log.series] == ["train/loss"]


def test_tensorboard_csv_export_maps_columns():
    text = "Wall time,Step,Value\n1559699797.2890687,0,12.43\n1559702341.0189154,1,18.37\n"
    doc = parse_document("run-train-tag-epoch_loss.csv", text.encode())
    assert doc.fmt == "tensorboard_csv"
    (loss,) = doc.run_log.series
    assert (loss.name, loss.steps, loss.values) == ("epoch_loss", [0, 1], [12.43, 18.37])
    assert loss.wall_times == [1559699797.2890687, 1559702341.0189154]
    assert runlogs.tensorboard_csv_tag("downloads/export.csv") == "export"


def test_keras_csvlogger_epoch_is_the_step():
    doc = parse_document("log.csv", b"epoch,accuracy,loss,val_loss\n0,0.5,1.2,1.3\n1,0.6,1.0,1.1\n")
    assert doc.fmt == "csv_wide"
    assert sorted(s.name for s in doc.run_log.series) == ["accuracy", "loss", "val_loss"]
    assert _series(doc)["", "loss"].steps == [0, 1]


def test_epoch_is_an_axis_when_a_step_column_exists():
    doc = parse_document("metrics.csv", b"epoch,step,train_loss\n0,49,8.6\n0,99,7.6\n")
    assert [s.name for s in doc.run_log.series] == ["train_loss"]


TRAINER_STATE = {
    "best_metric": None,
    "epoch": 1.0,
    "global_step": 20,
    "log_history": [
        {"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 2e-05, "loss": 2.1, "step": 10},
        {"epoch": 0.5, "eval_loss": 1.9, "eval_runtime": 3.2, "step": 10},
        {"epoch": 1.0, "loss": "NaN", "step": 20},
        {"epoch": 1.0, "loss": 1.7, "step": -1},
        {"epoch": 1.0, "total_flos": 1.2e15, "train_loss": 1.9, "train_runtime": 60.5, "step": 20},
    ],
}


def test_trainer_state_json_is_not_jsonl():
    data = json.dumps(TRAINER_STATE, indent=2).encode()
    assert detect_format("trainer_state.json", data) == "hf_trainer_state"
    doc = parse_document("trainer_state.json", data)
    series = {s.name: (s.steps, s.values) for s in doc.run_log.series}
    assert series == {
        "grad_norm": ([10], [1.5]),
        "learning_rate": ([10], [2e-05]),
        "loss": ([10], [2.1]),
        "eval_loss": ([10], [1.9]),
        "eval_runtime": ([10], [3.2]),
        "total_flos": ([20], [1.2e15]),
        "train_loss": ([20], [1.9]),
        "train_runtime": ([20], [60.5]),
    }
    assert doc.row_errors == [
        RowError(3, "non-finite value 'NaN' for 'loss'"),
        RowError(4, "negative step -1"),
    ]


def _mlflow_members():
    run = "mlruns/0/1e47c951822f47a595b32c1ae96e6c77"
    return {
        f"{run}/meta.yaml": b"artifact_uri: file:///x\nexperiment_id: '0'\nrun_id: 1e47c951822f47a595b32c1ae96e6c77\n"
        b"run_name: loud-colt-529\nrun_uuid: 1e47c951822f47a595b32c1ae96e6c77\nstatus: 1\n",
        f"{run}/metrics/rmse": b"1748272535374 0.79 0\n1748272535999 0.70 1\n",
        f"{run}/params/alpha": b"0.5",
        f"{run}/tags/mlflow.runName": b"loud-colt-529",
    }


def test_mlflow_run_folder_members():
    docs = {name: parse_document(name, body) for name, body in _mlflow_members().items()}
    meta, metric, param, tag = docs.values()
    assert (meta.kind, meta.fmt, meta.manifest.name, meta.manifest.external_id) == (
        "manifest",
        "mlflow_run_meta",
        "loud-colt-529",
        "mlflow:1e47c951822f47a595b32c1ae96e6c77",
    )
    assert (metric.fmt, metric.run_log.series[0].name, metric.run_log.series[0].steps) == (
        "mlflow",
        "rmse",
        [0, 1],
    )
    assert param.manifest.config == {"mlflow.params": {"alpha": "0.5"}}
    assert tag.manifest.name == "loud-colt-529"
    # every member names the run, so the catalog files them under one run whichever arrives first
    run_ids = {meta.manifest.external_id, metric.run_log.manifest.external_id, param.manifest.external_id}
    assert run_ids == {"mlflow:1e47c951822f47a595b32c1ae96e6c77"}


def test_mlflow_experiment_meta_is_not_a_run_manifest():
    data = b"artifact_location: file:///x/mlruns/0\ncreation_time: 1\nexperiment_id: '0'\nlifecycle_stage: active\nname: Default\n"
    with pytest.raises(ParseError, match="describes an experiment, not a run") as info:
        parse_document("mlruns/0/meta.yaml", data)
    assert info.value.filename == "mlruns/0/meta.yaml"


def test_mlflow_negative_step_is_a_row_error():
    doc = parse_document("mlruns/0/r/metrics/loss", b"1700000000000 2.0 -3\n1700000001000 1.5 4\n")
    assert doc.run_log.series[0].steps == [4]
    assert doc.row_errors == [RowError(1, "negative step -3")]


def test_nvidia_smi_gpu_column_and_iso_offsets():
    text = (
        "timestamp,gpu,index,power.draw\n"
        "2025-09-08T17:26:50+08:00,0, 0, 100.0\n2025-09-08T17:26:50+08:00,1, 0, 200.0\n"
        "2025-09-08T18:26:50+08:00,0, 0, 100.0\n2025-09-08T18:26:50+08:00,1, 0, 200.0\n"
    )
    power = parse_document("smi.csv", text.encode()).run_log.power
    assert (power.gpu_count, power.gpu_hours, power.energy_kwh) == (2, 2.0, pytest.approx(0.3))
    assert power.start == 1757323610.0  # 09:26:50 UTC


def test_negative_steps_are_row_errors_in_every_csv_path():
    fast = runlogs.parse_csv("step,loss\n-1,2.0\n1,1.5\n", filename="a.csv")
    assert fast.series[0].steps == [1]
    assert fast.row_errors == [RowError(2, "negative step -1")]
    jsonl = parse_document("m.jsonl", b'{"step": -2, "loss": 1.0}\n{"step": 3, "loss": 0.5}\n')
    assert jsonl.row_errors == [RowError(1, "negative step -2")]
    with pytest.raises(ParseError, match="negative step -1"):
        runlogs.parse_metric_points([{"step": -1, "metrics": {"loss": 1.0}}], filename="webhook")


def test_too_many_series_is_refused_naming_file_and_limit():
    header = "step," + ",".join(f"m{i}" for i in range(points.MAX_SERIES_PER_FILE + 1))
    with pytest.raises(
        ParseError, match="10,001 metric series in one file, over the limit of 10,000"
    ) as info:
        parse_document("wide.csv", (header + "\n0," + ",".join(["1"] * 10_001) + "\n").encode())
    assert (info.value.filename, info.value.line) == ("wide.csv", 1)
    rows = "\n".join(json.dumps({"step": 0, f"k{i}": 1.0}) for i in range(10_001))
    with pytest.raises(ParseError, match="over the limit of 10,000"):
        parse_document("many.jsonl", rows.encode())


def test_wandb_runs_table_is_refused_for_want_of_a_step():
    data = b'"Name","dataset_limit_train","test.L1_central","_wandb"\n"crisp-sweep-12","2530","0.0761",""\n'
    with pytest.raises(ParseError, match="no step column") as info:
        parse_document("wandb_export.csv", data)
    assert "Supported:" in str(info.value)


def test_wandb_events_jsonl_gives_energy():
    rows = [
        {"system.gpu.0.powerWatts": 100.0, "system.gpu.0.gpu": 90, "_runtime": 0, "_timestamp": 1700000000.0},
        {
            "system.gpu.0.powerWatts": 300.0,
            "system.gpu.0.gpu": 95,
            "_runtime": 3600,
            "_timestamp": 1700003600.0,
        },
    ]
    doc = parse_document("wandb-events.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    power = doc.run_log.power
    assert (power.energy_kwh, power.gpu_hours, power.gpu_count) == (pytest.approx(0.2), 1.0, 1)
    assert doc.run_log.series == []


def test_llamafactory_trainer_log_jsonl():
    rows = [
        {
            "current_steps": 1,
            "total_steps": 5100,
            "loss": 0.6491,
            "lr": 9.8e-10,
            "epoch": 0.0019,
            "percentage": 0.02,
        },
        {
            "current_steps": 2,
            "total_steps": 5100,
            "loss": 0.6466,
            "lr": 1.9e-09,
            "epoch": 0.0039,
            "percentage": 0.04,
        },
    ]
    doc = parse_document("trainer_log.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    assert {s.name: (s.steps, s.values) for s in doc.run_log.series} == {
        "loss": ([1, 2], [0.6491, 0.6466]),
        "lr": ([1, 2], [9.8e-10, 1.9e-09]),
    }


def test_mlflow_param_named_like_a_file_type():
    doc = parse_document("mlruns/0/0123456789abcdef/params/config.yaml", b"configs/base.yaml")
    assert doc.manifest.config == {"mlflow.params": {"config.yaml": "configs/base.yaml"}}
    assert doc.manifest.external_id == "mlflow:0123456789abcdef"


def test_epoch_level_json_log_uses_the_epoch():
    text = (
        '{"train_lr": 0.0001, "train_loss": 6.9, "test_loss": 6.5, "test_acc1": 1.2, "epoch": 0, "n_parameters": 5}\n'
        '{"train_lr": 0.0002, "train_loss": 6.1, "test_loss": 5.9, "test_acc1": 4.8, "epoch": 1, "n_parameters": 5}\n'
        '{"train_loss": 5.0, "epoch": 1.5}\n'
    )
    doc = parse_document("log.txt", text.encode())
    assert doc.fmt == "jsonl"
    series = {s.name: (s.steps, s.values) for s in doc.run_log.series}
    assert series["train_loss"] == ([0, 1], [6.9, 6.1])
    assert "epoch" not in series
    assert [e.line for e in doc.row_errors] == [3]


def test_tab_separated_metrics_table():
    doc = parse_document("train.log", b"step\tloss\n10\t8.460716\n20\t7.688958\n")
    assert doc.fmt == "csv_wide"
    assert [(s.name, s.steps, s.values) for s in doc.run_log.series] == [
        ("loss", [10, 20], [8.460716, 7.688958])
    ]
