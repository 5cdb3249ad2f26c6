"""Training stdout logs: Megatron/NeMo behind launcher prefixes, HF Trainer stdout, nanoGPT/llm.c, key-value.

Log lines below follow the formats those tools print (Megatron-LM ``training_log``, NeMo 2, HF Trainer, nanoGPT
``train.py``, llm.c ``train_gpt2``); the real-file corpus is in tests/corpus/runlogs.
"""

from __future__ import annotations

import pytest

from ingestion.parsers.dispatch import detect_format, parse_document
from ingestion.parsers.records import ParseError, RowError
from ingestion.parsers.textlogs import strip_prefix

MEGATRON_NEW = (
    "[Rank 0] (after 1 iterations) memory (MB) | allocated: 10770.37 | max allocated: 15754.88 |\n"
    " [2025-08-01 07:19:37] iteration        1/    5000 | consumed samples:          128 | elapsed time per"
    " iteration (ms): 19138.8 | throughput per GPU (TFLOP/s/GPU): 80.2 | learning rate: 6.976744E-08 | global"
    " batch size:   128 | lm loss: 1.043863E+01 | loss scale: 1.0 | grad norm: 26.203 | number of skipped"
    " iterations:   0 | number of nan iterations:   0 |\n"
    " [2025-08-01 07:19:50] iteration        2/    5000 | consumed samples:          256 | learning rate:"
    " 1.395349E-07 | lm loss: 1.044022E+01 | loss scale: 1.0 | grad norm: 26.305 |\n"
)


def _series(doc):
    return {s.name: s for s in doc.run_log.series}


def test_megatron_timestamp_prefix_is_not_json():
    doc = parse_document("train.log", MEGATRON_NEW.encode())
    assert (doc.kind, doc.fmt) == ("run_log", "megatron")
    loss = _series(doc)["lm loss"]
    assert (loss.steps, loss.values) == ([1, 2], [10.43863, 10.44022])
    assert loss.wall_times == [1754032777.0, 1754032790.0]  # the bracketed date, read as UTC
    assert "number of skipped iterations" not in _series(doc)
    assert "allocated" not in _series(doc)  # the [Rank 0] memory report is not an iteration line


@pytest.mark.parametrize(
    "prefix",
    ["[default0]:", "[default7]: ", "0: ", "3: [2025-01-02 03:04:05] ", "[1,0]<stdout>:", "[Rank 0] "],
)
def test_launcher_prefixes(prefix):
    line = f"{prefix} iteration       10/     100 | lm loss: 9.5 | learning rate: 3.0E-04 |\n"
    doc = parse_document("stdout.txt", ("some banner\n" + line).encode())
    assert doc.fmt == "megatron"
    assert _series(doc)["lm loss"].steps == [10]


def test_strip_prefix_stacks_and_keeps_the_rest():
    assert strip_prefix("0: [default0]: [2025-01-02 03:04:05.123] iteration 3/ 9 |") == (
        "0: [default0]: [2025-01-02 03:04:05.123] ",
        "iteration 3/ 9 |",
    )
    assert strip_prefix("s:0 trl:11.0")[1] == "s:0 trl:11.0"  # llm.c's short key is not a prefix


def test_megatron_validation_lines():
    text = (
        " iteration      100/     200 | lm loss: 6.5 |\n"
        " validation loss at iteration 100 | lm loss value: 6.250000E+00 | lm loss PPL: 5.180128E+02 |\n"
        " validation loss at the end of training for val data | lm loss value: 6.0E+00 | lm loss PPL: 403.4 |\n"
    )
    series = _series(parse_document("t.log", text.encode()))
    assert series["validation lm loss value"].steps == [100]
    assert series["validation lm loss value"].values == [6.0]  # end-of-training line at the last iteration
    assert series["validation lm loss PPL"].values == [403.4]


def test_nemo2_training_lines_use_global_step():
    text = (
        "[NeMo I 2025-03-01 10:00:00 nemo_logging:393] Setting up training\n"
        "Training epoch 0, iteration 0/99 | lr: 1.499e-07 | global_batch_size: 256 | global_step: 0 |"
        " reduced_train_loss: 11.03 | train_step_timing in s: 12.77 | consumed_samples: 256\n"
        "Training epoch 0, iteration 1/99 | lr: 2.999e-07 | global_batch_size: 256 | global_step: 1 |"
        " reduced_train_loss: 11.02 | train_step_timing in s: 3.1 | consumed_samples: 512\n"
    )
    doc = parse_document("nemo_log_globalrank-0_localrank-0.txt", text.encode())
    assert doc.fmt == "nemo"
    series = _series(doc)
    assert (series["reduced_train_loss"].steps, series["reduced_train_loss"].values) == (
        [0, 1],
        [11.03, 11.02],
    )
    assert "global_step" not in series and "epoch" not in series


HF_STDOUT = (
    "  0%|          | 0/20 [00:00<?, ?it/s]\n"
    "  5%|▌         | 1/20 [00:01<00:30,  1.6s/it]\r 50%|█████     | 10/20 [00:16<00:16,  1.67s/it]"
    "{'loss': 1.5618, 'grad_norm': 1.2043, 'learning_rate': 9.98e-05, 'epoch': 0.01}\n"
    "\n  0%|          | 0/63 [00:00<?, ?it/s]\n 100%|██████████| 63/63 [00:10<00:00, 6.1it/s]\n"
    "{'eval_loss': 1.25, 'eval_runtime': 10.1, 'epoch': 0.01}\n"
    " 100%|██████████| 20/20 [00:33<00:00,  1.6s/it]{'loss': 1.2588, 'learning_rate': 0.0, 'epoch': 0.02}\n"
    "{'train_runtime': 33.4, 'train_samples_per_second': 9.6, 'train_loss': 1.41, 'epoch': 0.02}\n"
)


def test_hf_trainer_stdout_steps_from_the_training_bar():
    doc = parse_document("train.log", HF_STDOUT.encode())
    assert doc.fmt == "hf_trainer_log"
    series = _series(doc)
    assert (series["loss"].steps, series["loss"].values) == ([10, 20], [1.5618, 1.2588])
    assert series["eval_loss"].steps == [10]  # the 63/63 evaluation bar is not the training step
    assert series["train_loss"].steps == [20]
    assert "epoch" not in series


def test_hf_trainer_stdout_without_bars_counts_logging_events():
    text = "{'loss': 2.0, 'learning_rate': 1e-05, 'epoch': 0.5}\n{'loss': 1.5, 'learning_rate': 5e-06, 'epoch': 1.0}\n"
    doc = parse_document("out.txt", text.encode())
    assert doc.fmt == "hf_trainer_log"  # not refused as broken JSON
    assert _series(doc)["loss"].steps == [1, 2]


def test_nanogpt_iter_and_eval_lines():
    text = (
        "step 0: train loss 4.2367, val loss 4.2475\n"
        "iter 0: loss 4.2709, time 10268.08ms, mfu -100.00%\n"
        "iter 5: loss 4.2082, time 1431.27ms, mfu 0.01%\n"
        "iter 10: loss nan, time 1440.31ms, mfu 0.01%\n"
    )
    doc = parse_document("train.log", text.encode())
    assert doc.fmt == "nanogpt"
    series = _series(doc)
    assert (series["loss"].steps, series["loss"].values) == ([0, 5], [4.2709, 4.2082])
    assert series["val loss"].values == [4.2475]
    assert series["mfu"].steps == [5, 10]  # -100% is the "not measured yet" marker
    assert doc.row_errors == [
        RowError(2, "mfu -100.00% is nanoGPT's 'not measured yet' marker"),
        RowError(4, "non-finite value 'nan' for 'loss'"),
    ]


def test_modded_nanogpt_lines():
    text = (
        "step:0/1390 val_loss:10.8258 train_time:0ms step_avg:nanms\n"
        "step:1/1390 train_loss:10.8258 train_time:22431ms step_avg:nanms\n"
        "step:125/1390 val_loss:4.3 train_time:12345ms step_avg:98.76ms\n"
    )
    doc = parse_document("run.txt", text.encode())
    assert doc.fmt == "nanogpt"
    series = _series(doc)
    assert series["val_loss"].steps == [0, 125]
    assert series["train_loss"].values == [10.8258]
    assert series["step_avg"].values == [98.76]


def test_llmc_main_log_and_stdout():
    log = "s:0 tel:10.98\ns:0 trl:11.0 lr:0.000001 norm:15.37\ns:1 trl:10.95 lr:0.000002 norm:15.2\n"
    doc = parse_document("main.log", log.encode())
    assert doc.fmt == "llmc"
    assert {s.name: s.values for s in doc.run_log.series} == {
        "tel": [10.98],
        "trl": [11.0, 10.95],
        "lr": [0.000001, 0.000002],
        "norm": [15.37, 15.2],
    }
    out = (
        "step    1/74 | train loss 11.009 | norm 15.3732 | lr 1.00e-06 | 42.61 ms | 45.1% bf16 MFU | 12305 tok/s\n"
        "val loss 10.9\n"
        "step    2/74 | train loss 10.950 | norm 14.0 | lr 2.00e-06 | 41.0 ms | 46.0% bf16 MFU | 12700 tok/s\n"
    )
    series = _series(parse_document("stdout.log", out.encode()))
    assert series["train loss"].steps == [1, 2]
    assert series["val loss"].steps == [1]
    assert set(series) == {"train loss", "norm", "lr", "val loss"}


def test_kv_log_deepspeed_style():
    text = (
        "[2023-04-18 01:58:11,440] [INFO] [logging.py:96:log_dist] [Rank 0] step=900, skipped=14,"
        " lr=[9.309e-06, 9.309e-06], mom=[(0.9, 0.95), (0.9, 0.95)]\n"
        "[2023-04-18 01:58:11,468] [INFO] [timer.py:199:stop] epoch=1/micro_step=440/global_step=900,"
        " RunningAvgSamplesPerSec=171.7, MemAllocated=3.96GB\n"
        "epoch: 0|step: 0|ppo_ep: 1|act_loss: 0.2099|cri_loss: 0.1204|unsuper_loss: 0.0\n"
    )
    doc = parse_document("ds.log", text.encode())
    assert doc.fmt == "kv_log"
    series = _series(doc)
    assert series["lr"].values == [9.309e-06]
    assert series["RunningAvgSamplesPerSec"].steps == [900]
    assert series["act_loss"].steps == [0]
    assert not {"logging.py", "timer.py", "epoch", "micro_step", "global_step", "MemAllocated"} & set(series)


def test_epoch_only_log_is_refused_with_reasons():
    text = b"ep: 0, batch: 20, time: 9.17, loss: 10.98\nep: 0, batch: 40, time: 8.38, loss: 10.97\n"
    with pytest.raises(ParseError) as info:
        parse_document("train.log", text)
    message = str(info.value)
    assert message.startswith("train.log: unrecognised file format: it looks like 2 lines of text")
    for part in ("megatron/nemo:", "hf_trainer_log:", "nanogpt/llmc:", "kv_log:", "CSV:", "Supported:"):
        assert part in message


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (MEGATRON_NEW, "megatron"),
        (HF_STDOUT, "hf_trainer_log"),
        ("iter 0: loss 4.2, time 1.0ms, mfu 1.0%\n", "nanogpt"),
        ("s:0 trl:11.0\n", "llmc"),
        ("step: 10 loss: 2.3\n", "kv_log"),
    ],
)
def test_detection_by_content(text, fmt):
    assert detect_format("upload", text.encode()) == fmt


def test_hf_trainer_stdout_ignores_described_bars_and_long_eval_bars():
    text = (
        "Map: 100%|██████████| 5000/5000 [00:01<00:00, 4000 examples/s]\n"
        "Loading checkpoint shards: 100%|██████████| 3/3 [00:02<00:00,  1.07it/s]\n"
        "  1%|          | 5/400 [00:08<10:00,  1.6s/it]{'loss': 2.5, 'learning_rate': 1e-05, 'epoch': 0.01}\n"
        "\n  0%|          | 0/900 [00:00<?, ?it/s]\r 50%|█████     | 450/900 [00:05<00:05, 90it/s]"
        "\r100%|██████████| 900/900 [00:10<00:00, 90it/s]\n"
        "{'eval_loss': 2.4, 'eval_runtime': 10.0, 'epoch': 0.01}\n"
        "  3%|▎         | 10/400 [00:20<10:00,  1.6s/it]{'loss': 2.2, 'learning_rate': 2e-05, 'epoch': 0.03}\n"
    )
    series = _series(parse_document("train.log", text.encode()))
    assert series["loss"].steps == [5, 10]
    assert series["eval_loss"].steps == [5]


def test_megatron_test_set_results_do_not_overwrite_validation():
    text = (
        " iteration      100/     100 | lm loss: 6.5 |\n"
        " validation loss at the end of training for val data | lm loss value: 6.0E+00 |\n"
        " validation loss at the end of training for test data | lm loss value: 7.0E+00 |\n"
    )
    series = _series(parse_document("t.log", text.encode()))
    assert (series["validation lm loss value"].values, series["test lm loss value"].values) == ([6.0], [7.0])


def test_nemo1_lightning_bar_with_global_step():
    text = (
        "Epoch 0:  50%|█████     | 5/10 [00:02<00:02, reduced_train_loss=10.50, global_step=4.000, v_num=0]\r"
        "Epoch 0: 100%|██████████| 10/10 [00:05<00:00, reduced_train_loss=10.30, global_step=9.000,"
        " consumed_samples=80.0, val_loss=10.2, v_num=0]\n"
    )
    doc = parse_document("nemo_log.txt", text.encode())
    assert doc.fmt == "nemo"
    series = _series(doc)
    assert (series["reduced_train_loss"].steps, series["reduced_train_loss"].values) == ([4, 9], [10.5, 10.3])
    assert series["val_loss"].steps == [9]
    assert not {"global_step", "v_num"} & set(series)


def test_hf_trainer_dict_with_numpy_scalars():
    text = " 10%| | 10/100 [00:01<00:09, 9.9it/s]{'eval_loss': 0.5, 'eval_accuracy': np.float64(0.85), 'epoch': 1.0}\n"
    series = _series(parse_document("train.log", text.encode()))
    assert series["eval_accuracy"].values == [0.85]


def test_build_nanogpt_lines():
    text = (
        "step     0 | loss: 10.938573 | lr 6.0000e-05 | norm: 27.0159 | dt: 17830.71ms | tok/sec: 29403.65\n"
    )
    doc = parse_document("log.txt", text.encode())
    assert doc.fmt == "nanogpt"
    assert {s.name: s.values[0] for s in doc.run_log.series} == {
        "loss": 10.938573,
        "lr": 6e-05,
        "norm": 27.0159,
        "dt": 17830.71,
        "tok/sec": 29403.65,
    }


def test_ray_prefixes_and_colour_codes_are_stripped():
    text = (
        "\x1b[36m(TaskRunner pid=11874)\x1b[0m step:1 - actor/entropy:0.51 - actor/pg_loss:-0.02\n"
        "(WorkerDict pid=14993, ip=172.23.224.85) step:2 - actor/entropy:0.49\n"
    )
    doc = parse_document("verl.log", text.encode())
    assert doc.fmt == "kv_log"
    series = _series(doc)
    assert series["actor/entropy"].steps == [1, 2]
    assert series["actor/pg_loss"].values == [-0.02]
    assert "pid" not in series and "ip" not in series


def test_gpt_neox_lines_with_fields_before_the_iteration():
    text = (
        " samples/sec: 27.123 | iteration       10/  320000 | elapsed time per iteration (ms): 9438.1 | learning"
        " rate: 2.999E-06 | approx flops per GPU: 91.2TFLOPS | lm_loss: 1.059436E+01 | loss scale: 65536.0 |"
        " number of skipped iterations:   0 | number of nan iterations:   0 |\n"
    )
    doc = parse_document("neox.log", text.encode())
    assert doc.fmt == "megatron"
    series = _series(doc)
    assert (series["lm_loss"].steps, series["lm_loss"].values) == ([10], [10.59436])
    assert series["samples/sec"].values == [27.123]
    assert "approx flops per GPU" not in series  # "91.2TFLOPS" is not a plain number


def test_torchtitan_style_kv_with_thousands_separators():
    text = (
        "[rank0]:[titan] 2025-01-01 00:00:00,000 - root - INFO - \x1b[31mstep:  1  \x1b[32mloss: 12.2345"
        "  \x1b[33mmemory: 10.05GiB(10.58%)  \x1b[34mtps: 1,234  \x1b[35mtflops: 12.30  \x1b[35mmfu: 1.24%\x1b[39m\n"
    )
    series = _series(parse_document("titan.log", text.encode()))
    assert series["tps"].values == [1234.0]
    assert series["loss"].values == [12.2345]
    assert series["mfu"].values == [1.24]
    assert "memory" not in series


def test_deepspeed_engine_steps_line():
    text = "[2024-01-01 00:00:00,000] [INFO] [engine.py:100:step] steps: 10 loss: 2.3400 iter time (s): 1.2 samples/sec: 10.5\n"
    series = _series(parse_document("ds.log", text.encode()))
    assert series["loss"].steps == [10]
    assert series["samples/sec"].values == [10.5]


def test_fairseq_train_and_valid_summaries_stay_apart():
    text = (
        "2021-01-01 00:00:00 | INFO | train_inner | epoch 001:    100 / 1234 loss=9.3, ppl=630.1, wps=1234,"
        " num_updates=100, lr=1e-04, gnorm=2.3\n"
        "2021-01-01 00:10:00 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.9 | ppl 477.1 |"
        " num_updates 100\n"
        "2021-01-01 00:10:01 | INFO | train | epoch 001 | loss 9.2 | ppl 588.1 | wps 1200 | num_updates 100 | lr 1e-04\n"
    )
    doc = parse_document("train.log", text.encode())
    assert doc.fmt == "kv_log"
    series = _series(doc)
    assert series["loss"].values == [9.2]  # the train summary (line 3) re-logs step 100 after train_inner
    assert series["valid/loss"].values == [8.9]
    assert "num_updates" not in series and "epoch" not in series


def test_composer_console_blocks():
    text = (
        "[batch=1/4800]:\n"
        "\t Train time/batch: 0\n"
        "\t Train loss/train/total: 12.1250\n"
        "\t Train metrics/train/LanguageCrossEntropy: 12.1250\n"
        "[batch=2/4800]:\n"
        "\t Train loss/train/total: 11.9375\n"
        "[eval batch=10/10] Eval on eval data\n"
        "[batch=3/4800]:\n"
        "\t Eval metrics/eval/LanguageCrossEntropy: 11.5\n"
    )
    doc = parse_document("stdout.txt", text.encode())
    assert doc.fmt == "composer"
    series = _series(doc)
    assert (series["loss/train/total"].steps, series["loss/train/total"].values) == (
        [1, 2],
        [12.125, 11.9375],
    )
    assert series["metrics/eval/LanguageCrossEntropy"].steps == [3]


def test_a_log_that_only_looks_like_kv_is_refused_with_every_candidate():
    text = b"Total training steps: 23350\nstep=3 loss=nan\n"
    with pytest.raises(ParseError) as info:
        parse_document("crash.log", text)
    message = str(info.value)
    assert "The closest was kv_log (no metric points found (kv_log)" in message
    assert "Tried:" in message and "Supported:" in message


def test_litgpt_lines_use_the_optimizer_step():
    text = (
        "Epoch 1 | iter 8 step 1 | loss train: 10.961, val: n/a | iter time: 512.31 ms (step)\n"
        "Epoch 1 | iter 16 step 2 | loss train: 10.512, val: 10.400 | iter time: 498.00 ms (step)\n"
        "iter 24 step 3: loss 10.2345, iter time: 490.12ms\n"
    )
    doc = parse_document("litgpt.log", text.encode())
    assert doc.fmt == "nanogpt"
    series = _series(doc)
    assert (series["loss train"].steps, series["loss train"].values) == ([1, 2], [10.961, 10.512])
    assert series["loss val"].steps == [2]
    assert series["loss"].steps == [3]
    assert series["iter time"].values == [512.31, 498.0, 490.12]


def test_torchtune_disk_logger_lines():
    text = "Step 1 | loss:2.3456 lr:2e-05 tokens_per_second_per_gpu:1234.5\nStep 2 | loss:2.2 lr:2e-05\n"
    series = _series(parse_document("log_1700000000.txt", text.encode()))
    assert series["loss"].values == [2.3456, 2.2]
    assert series["tokens_per_second_per_gpu"].steps == [1]


def test_nanochat_base_train_lines():
    text = (
        "Step 00000 | Validation bpb: 3.342033\n"
        "step 00000/00020 (0.00%) | loss: 10.396327 | lrm: 0.03 | dt: 6502.17ms | tok/sec: 78 | bf16_mfu: 0.01 |"
        " epoch: 1 pq: 0 rg: 0 | total time: 0.00m\n"
        "step 00001/00020 (5.00%) | loss: 10.396562 | lrm: 0.05 | dt: 38.87ms | tok/sec: 13,172 | bf16_mfu: 0.99 |"
        " epoch: 1 pq: 0 rg: 0 | total time: 0.00m\n"
        "Step 00020 | Validation bpb: 3.324783\n"
    )
    doc = parse_document("base_train.log", text.encode())
    assert doc.fmt == "nanogpt"
    series = _series(doc)
    assert (series["loss"].steps, series["loss"].values) == ([0, 1], [10.396327, 10.396562])
    assert series["Validation bpb"].steps == [0, 20]
    assert series["tok/sec"].values == [78.0, 13172.0]
    assert "epoch" not in series
