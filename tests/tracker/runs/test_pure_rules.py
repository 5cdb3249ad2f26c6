"""Pure rules of the runs pages (no database): numbers for people, metric order, final loss, x-axes, URL."""

from __future__ import annotations

import math

import pytest
from django.http import QueryDict

from tracker.runs.curves import (
    MAX_POINTS,
    CurveParamError,
    CurveParams,
    StepMap,
    config_flat,
    tokens_per_step_from_config,
)
from tracker.runs.metrics import (
    COUNTER,
    EVAL_LOSS,
    FINAL_LOSS_TRAIN_K,
    TRAIN_LOSS,
    SeriesTail,
    final_loss_choose,
    metric_group,
    metrics_ordered,
)
from tracker.runs.numbers import exact, human_count, human_float, human_sci, parse_quantity


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7979498622.008407, "7.98B"),
        (1.3e9, "1.3B"),
        (1.26e12, "1.26T"),
        (350e6, "350M"),
        (999.96e6, "1B"),
        (124_439_808, "124M"),
        (12_500, "12.5K"),
        (812, "812"),
        (0.5, "0.5"),
        (None, "\u2013"),
    ],
)
def test_human_count(value, text):
    assert human_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(3.6512e21, "3.65e21"), (1e20, "1e20"), (6 * 1.3e9 * 2.1e10, "1.64e20"), (0, "0")]
)
def test_human_sci(value, text):
    assert human_sci(value) == text


def test_human_float_and_exact():
    assert human_float(2.345678) == "2.346"
    assert human_float(None) == "\u2013"
    assert exact(7979498622.008407) == "7979498622.008407"
    assert exact(1.3e9) == "1300000000"
    assert exact(2.8246699) == "2.8246699"
    assert exact(None) == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.3B", 1.3e9), ("7e9", 7e9), ("300m", 3e8), ("1,000", 1000.0), ("1.4T", 1.4e12), (" 2.5 G ", 2.5e9)],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "1.3X", "inf", "nan", "", "1e999", "--1"])
def test_parse_quantity_refuses_with_reason(text):
    with pytest.raises(ValueError, match="not a"):
        parse_quantity(text)


def test_megatron_metrics_open_on_lm_loss_never_consumed_samples():
    names = [
        "consumed samples",
        "elapsed time per iteration (ms)",
        "global batch size",
        "grad norm",
        "learning rate",
        "lm loss",
        "loss scale",
        "number of nan iterations",
    ]
    ordered = metrics_ordered(names)
    assert ordered[0] == "lm loss"
    assert ordered[1:3] == ["grad norm", "learning rate"]
    assert ordered.index("consumed samples") > ordered.index("elapsed time per iteration (ms)")
    assert metric_group("consumed samples") == COUNTER


def test_wandb_and_hf_names_order_train_then_eval_loss():
    names = ["train/lr", "eval/accuracy", "_runtime", "eval/loss", "train/loss", "train/grad_norm", "z_loss"]
    assert metrics_ordered(names) == [
        "train/loss",
        "eval/loss",
        "z_loss",
        "eval/accuracy",
        "train/grad_norm",
        "train/lr",
        "_runtime",
    ]
    for name in ["loss", "train_loss", "training loss", "lm-loss", "loss/train"]:
        assert metric_group(name) == TRAIN_LOSS, name
    for name in ["val_loss", "validation loss", "lm loss validation", "eval/wikitext/loss", "valid/loss"]:
        assert metric_group(name) == EVAL_LOSS, name


def test_final_loss_prefers_the_last_validation_loss():
    tails = [
        SeriesTail("train/loss", list(range(100)), [3.0] * 100),
        SeriesTail("eval/loss", [500, 1000, 250], [2.9, 2.5, 3.1]),  # any order: the highest step counts
    ]
    result = final_loss_choose(tails)
    assert (result.value, result.series, result.rule) == (2.5, "eval/loss", "last eval/loss (step 1,000)")


def test_final_loss_falls_back_to_mean_of_last_k_training_points():
    steps = list(range(0, 1000, 10))
    values = [10.0] * 80 + [float(v) for v in range(20)]
    result = final_loss_choose([SeriesTail("lm loss", steps, values), SeriesTail("lr", steps, [1.0] * 100)])
    assert FINAL_LOSS_TRAIN_K == 20
    assert result.value == pytest.approx(sum(range(20)) / 20)
    assert result.rule == "mean of the last 20 points of lm loss (steps 800\u2013990)"


def test_final_loss_skips_non_finite_and_short_series_and_none():
    result = final_loss_choose([SeriesTail("loss", [1, 2, 3], [2.0, math.nan, 4.0])])
    assert result.value == 3.0 and "the last 2 points" in result.rule
    assert (
        final_loss_choose([SeriesTail("eval/loss", [1], [math.inf]), SeriesTail("loss", [5], [1.5])]).value
        == 1.5
    )
    assert (
        final_loss_choose([SeriesTail("lr", [1], [1.0]), SeriesTail("consumed samples", [1], [5.0])]) is None
    )


def test_step_maps_linear_table_and_inverse():
    linear = StepMap.linear(mode="tokens", slope=4096.0, label="tokens", how="")
    assert linear.to_x(1000) == 4_096_000 and linear.to_step(4_096_000) == 1000
    table = StepMap.from_table(
        mode="tokens", steps=[0, 10, 10, 20, 30], xs=[0, 100, 90, 300, 250], label="tokens", how=""
    )
    # One pair per step, a counter never goes back (250 after 300 is bridged), extended past its end.
    assert table.steps == (0.0, 10.0, 20.0, 30.0) and table.xs == (0.0, 100.0, 300.0, 300.0)
    assert table.to_x(15) == 200 and table.to_x(-10) == -100
    assert table.to_step(200) == 15 and table.to_step(300) == 20
    assert StepMap.from_table(mode="t", steps=[1], xs=[5], label="", how="") is None
    assert StepMap.from_table(mode="t", steps=[1, 2], xs=[5, 5], label="", how="") is None


@pytest.mark.parametrize(
    ("config", "tokens", "how"),
    [
        ({"tokens_per_step": 524288}, 524288, "tokens_per_step"),
        ({"global_batch_size": 512, "seq_length": 2048}, 512 * 2048, "global_batch_size 512"),
        (
            {
                "training": {
                    "per_device_train_batch_size": 8,
                    "gradient_accumulation_steps": 4,
                    "world_size": 16,
                }
            },
            None,
            "",
        ),
        (
            {
                "per_device_train_batch_size": 8,
                "gradient_accumulation_steps": 4,
                "world_size": 16,
                "max_seq_length": 1024,
            },
            8 * 4 * 16 * 1024,
            "per_device_train_batch_size 8 \u00d7 gradient_accumulation_steps 4 \u00d7 world_size 16",
        ),
        ({"model": {"block_size": 1024}, "batch_size": 480}, 480 * 1024, "block_size 1,024"),
        ({"lr": 3e-4}, None, ""),
        ({"seq_len": "x", "global_batch_size": True}, None, ""),
    ],
)
def test_tokens_per_step_from_config(config, tokens, how):
    found = tokens_per_step_from_config(config)
    if tokens is None:
        assert found is None
    else:
        assert found[0] == tokens and how in found[1]


def test_config_flat():
    assert config_flat({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def _q(text: str) -> QueryDict:
    return QueryDict(text)


def test_curve_params_defaults_and_round_trip():
    params = CurveParams.from_query(_q(""))
    assert (params.x, params.smooth, params.logx, params.logy, params.ytrim, params.points) == (
        "step",
        0.0,
        False,
        False,
        True,
        2000,
    )
    assert params.query_pairs() == []
    text = "m=lm+loss&m=grad+norm&x=tokens&smooth=0.6&logx=0&logx=1&ytrim=0&ytrim=1&ytrim=0&x0=1e9&x1=2.5e9"
    params = CurveParams.from_query(_q(text))
    assert params.metrics == ("lm loss", "grad norm") and params.logx and not params.ytrim
    again = CurveParams.from_query(
        _q("&".join(f"{k}={v}" for k, v in params.query_pairs()).replace(" ", "+"))
    )
    assert again == params


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=epochs", "x must be one of step, tokens, flops, time"),
        ("smooth=1.5", "smooth must be between 0 and 0.999"),
        ("smooth=abc", "smooth must be a number"),
        ("logy=maybe", "logy must be 1 or 0"),
        ("x0=10&x1=5", "x1 (5) must be larger than x0 (10)"),
        ("x0=nan", "x0 must be a finite number"),
        (f"points={MAX_POINTS + 1}", f"points must be between 8 and {MAX_POINTS}"),
        ("points=2k", "points must be an integer"),
        ("series__run__team=1", "unknown parameter 'series__run__team'"),
        ("&".join(f"m=m{i}" for i in range(13)), "at most 12 metric panels"),
    ],
)
def test_curve_params_refuse_with_reason(text, message):
    with pytest.raises(CurveParamError) as info:
        CurveParams.from_query(_q(text))
    assert message in str(info.value)
