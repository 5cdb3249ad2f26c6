"""The newer study kinds (Kaplan, precision, loss -> accuracy, test-time compute, diffusion vs AR): each
recovers the constants its synthetic runs were generated with, stores intervals and warnings, and draws its
figures with bands and run names. Kind fits are called on points directly (no database) except one test that
goes through stored runs and their config."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from analytics.fitting.diffusion_ar import critical_compute
from analytics.fitting.kaplan import KAPLAN_2020
from analytics.fitting.precision import optimal_tied_precision
from analytics.fitting.simulate import MUENNIGHOFF_C4
from analytics.models import Fit
from analytics.studies import services as study_services
from analytics.studies.base import FitOutcome, jsonable
from analytics.studies.points import RunPoint
from analytics.studies.registry import KIND_OPTIONS, kind_get
from tests.analytics.fitting import test_diffusion_ar as dar
from tests.analytics.fitting import test_downstream as ds
from tests.analytics.fitting import test_kaplan as kp
from tests.analytics.fitting import test_precision as pr
from tests.analytics.fitting import test_test_time as tt
from tracker.models import TrainingRun

NEW_KINDS = ("kaplan", "precision", "downstream", "test_time", "diffusion_ar")


def _fit(kind: str, points: list[RunPoint], **options: Any) -> FitOutcome:
    study: Any = SimpleNamespace(options=options)
    return kind_get(kind).fit(study, points)


def _pt(i: int, **values: Any) -> RunPoint:
    base: dict[str, Any] = {"n": None, "d": None, "u": None, "loss": None}
    return RunPoint(run_id=i, run_name=f"run-{i}", **(base | values))


def _figures_ok(kind: str, out: FitOutcome) -> list[dict[str, Any]]:
    stored = jsonable({"params": out.params, "ci": out.ci, "residuals": out.residuals})
    figures = kind_get(kind).figures(stored["params"], stored["ci"], stored["residuals"])
    traces = [t for f in figures for t in f["data"]]
    assert any(t.get("fill") == "tonexty" for t in traces), "no band drawn"
    named = [t for t in traces if t.get("mode") == "markers" and t.get("text")]
    assert named and all("%{text}" in t["hovertemplate"] for t in named)
    assert any(str(t["text"][0]).startswith("run-") for t in named)
    return figures


def test_new_kinds_are_in_the_registry_with_options_for_the_authoring_form() -> None:
    for kind in NEW_KINDS:
        spec = kind_get(kind)
        assert kind in KIND_OPTIONS and spec.needs is not None and spec.needs({})
        assert {o.name for o in KIND_OPTIONS[kind]} >= {"n_bootstrap"} or kind == "diffusion_ar"


def test_kaplan_recovers_the_published_exponents() -> None:
    n, d, loss = kp._runs(0)
    out = _fit(
        "kaplan", [_pt(i, n=a, d=b, loss=c) for i, (a, b, c) in enumerate(zip(n, d, loss))], n_bootstrap=100
    )
    # Kaplan et al. 2020: alpha_N 0.076, alpha_D 0.095
    assert out.params["alpha_n"] == pytest.approx(KAPLAN_2020.alpha_n, rel=0.03)
    assert out.params["alpha_d"] == pytest.approx(KAPLAN_2020.alpha_d, rel=0.03)
    iv = out.intervals["alpha_n"]
    assert iv["low"] < out.params["alpha_n"] < iv["high"] and iv["bounded"]
    assert out.warnings == []
    _figures_ok("kaplan", out)


def test_precision_recovers_gammas_and_optimal_precision() -> None:
    n, d, pw, pa, pkv, loss = pr._runs(0)
    points = [
        _pt(i, n=a, d=b, bits_w=w, bits_a=x, bits_kv=k, loss=c)
        for i, (a, b, w, x, k, c) in enumerate(zip(n, d, pw, pa, pkv, loss))
    ]
    out = _fit("precision", points, n_bootstrap=30)
    assert (out.params["gamma_w"], out.params["gamma_a"], out.params["gamma_kv"]) == pytest.approx(
        (2.7, 2.2, 1.0), rel=0.05
    )
    assert out.params["optimal_precision"] == pytest.approx(optimal_tied_precision(pr.TRUE), rel=0.1)
    assert {"gamma_w", "gamma_a", "gamma_kv", "optimal_precision"} <= set(out.intervals)
    _figures_ok("precision", out)


def test_downstream_ladder_predicts_the_target_accuracy_with_an_interval() -> None:
    rng = np.random.default_rng(0)
    n, d, task_loss, _, _ = ds._ladder(0)
    acc = rng.binomial(1000, ds.accuracy(task_loss)) / 1000
    points = [
        _pt(i, n=a, d=b, loss=c, accuracy=e) for i, (a, b, c, e) in enumerate(zip(n, d, task_loss, acc))
    ]
    out = _fit("downstream", points, n_bootstrap=100, target_n=7e9, target_d=4e12)
    truth = float(ds.accuracy(ds.TASK_LAW.predict(7e9, 4e12)))
    predicted = out.derived[0]["values"]["accuracy"]
    assert abs(predicted["estimate"] - truth) < 0.05 and predicted["low"] <= truth <= predicted["high"]
    # the target is 6 N D = 1.7e23 FLOPs, far beyond the ladder's compute: said so
    assert "extrapolation" in {w["code"] for w in out.warnings}
    _figures_ok("downstream", out)


def test_test_time_recovers_the_strategy_curves_and_the_best_strategy() -> None:
    names, flops, acc = tt._runs(0)
    points = [
        _pt(i, strategy=s, inference_flops=f, loss=a) for i, (s, f, a) in enumerate(zip(names, flops, acc))
    ]
    out = _fit("test_time", points, n_bootstrap=100)
    for name, (a, _k, x0, b) in tt.TRUE.items():
        assert out.params[f"{name}_x0"] == pytest.approx(x0, abs=0.3)
        assert out.params[f"{name}_floor"] + out.params[f"{name}_gain"] == pytest.approx(a + b, abs=0.05)
    assert out.params["best_strategy"] == "beam_prm"
    best = out.derived[0]["values"]["beam_prm_accuracy"]
    assert best["low"] <= float(tt.truth("beam_prm", out.derived[0]["compute"])) + 0.01
    _figures_ok("test_time", out)


def test_diffusion_vs_ar_recovers_r_d_star_and_the_critical_compute() -> None:
    objective, n, d, u, loss = dar._runs()
    points = [
        _pt(i, objective=o, n=a, d=b, u=c, loss=e)
        for i, (o, a, b, c, e) in enumerate(zip(objective, n, d, u, loss))
    ]
    base = {k: getattr(MUENNIGHOFF_C4, k) for k in ("a", "b", "e", "alpha", "beta")}
    base_d = {k: getattr(dar.DIFFUSION_BASE, k) for k in ("a", "b", "e", "alpha", "beta")}
    out = _fit("diffusion_ar", points, base_ar=base, base_diffusion=base_d)
    # Prabhudesai et al. 2025: R_D* ~ 500 for diffusion, ~15 for AR (Muennighoff et al.)
    assert out.params["ar_rd_star"] == pytest.approx(15.0, rel=0.2)
    assert out.params["diffusion_rd_star"] == pytest.approx(500.0, rel=0.2)
    c_crit = out.derived[0]["values"]["critical_compute"]
    truth = critical_compute(dar.TRUE.ar, dar.TRUE.diffusion, float(max(u)))
    assert c_crit["low"] <= truth <= c_crit["high"]
    assert out.intervals["diffusion_rd_star"]["low"] < 500 < out.intervals["diffusion_rd_star"]["high"]
    _figures_ok("diffusion_ar", out)


@pytest.mark.django_db
def test_test_time_study_reads_strategy_and_inference_tokens_from_run_config(team_a: Any) -> None:
    names, flops, acc = tt._runs(1)
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team_a,
            name=f"tt-{i}",
            parameters=tt.N_SMALL,
            config={"strategy": s, "inference_tokens": f / (2 * tt.N_SMALL), "benchmarks": {"MATH": a}},
        )
        for i, (s, f, a) in enumerate(zip(names, flops, acc))
    )
    TrainingRun.objects.create(
        team=team_a, name="tt-no-strategy", parameters=1e9, config={"benchmarks": {"MATH": 0.2}}
    )
    study = study_services.study_create(
        team=team_a, name="tt", kind="test_time", run_filter={"name__startswith": "tt-"},
        target_metric="benchmark:MATH", options={"n_bootstrap": 30},
    )  # fmt: skip
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    assert fit.goodness["n_points"] == len(names) and fit.goodness["n_excluded"] == 1
    assert fit.residuals[0]["flops"] == pytest.approx(flops[0], rel=1e-12)
    assert fit.params["best_strategy"] == "beam_prm"
