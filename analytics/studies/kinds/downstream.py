"""Loss -> downstream accuracy, two steps (OLMo ladder, Bhagia et al. 2024): step 1 a Chinchilla law of the
task loss (the study's target) in N and D, step 2 a sigmoid from task loss to accuracy (run config
`accuracy`); the prediction at a target (N, D) chains the bootstrap replicates of both steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.downstream import downstream_figures
from analytics.fitting.chinchilla import allocation_warnings
from analytics.fitting.downstream import LadderPredictor
from analytics.fitting.errors import FitError
from analytics.fitting.plausibility import check_extrapolation
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    BOOTSTRAP_OPTION,
    DEFAULT_BOOTSTRAP,
    SEED_OPTION,
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    goodness,
    interval_json,
    intervals_json,
    safe_intervals,
    warnings_json,
)
from analytics.studies.points import RunPoint, run_point_row, run_points

LEVEL = 0.95
NEEDS = ("n", "d", "loss", "accuracy")


def fit(study: Study, points: Sequence[RunPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, NEEDS)
    n, d, loss, acc = (np.array(column(pts, k)) for k in NEEDS)
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    ladder = LadderPredictor(n_bootstrap=max(n_boot, 2), random_state=int(study.options.get("seed", 0)))
    ladder.fit(n, d, loss, accuracy=acc)
    s1, s2 = ladder.step1_, ladder.step2_
    target_n = float(study.options.get("target_n", float(n.max()) * 10))
    target_d = float(study.options.get("target_d", float(d.max()) * 10))
    if not (target_n > 0 and target_d > 0):
        raise FitError("target_n and target_d must be > 0")
    prediction = ladder.predict(target_n, target_d, LEVEL)
    iv1, miss1 = safe_intervals(lambda: s1.intervals(LEVEL))
    iv2, miss2 = safe_intervals(lambda: s2.intervals(LEVEL))
    intervals = {
        f"step1_{k}": v for k, v in intervals_json(iv1).items() if k in ("alpha", "beta", "E", "A", "B")
    }
    intervals |= {f"step2_{k}": v for k, v in intervals_json(iv2).items()}
    params: dict[str, Any] = {
        f"step1_{k}": v for k, v in s1.params.to_dict().items() if k in ("alpha", "beta", "E", "A", "B")
    }
    params |= {"step2_a": s2.a, "step2_k": s2.k, "step2_L0": s2.l0, "step2_b": s2.b}
    params |= {"target_n": target_n, "target_d": target_d}
    params |= {"predicted_loss": prediction.loss.estimate, "predicted_accuracy": prediction.accuracy.estimate}
    grid = np.linspace(min(float(loss.min()), prediction.loss.low) * 0.95, float(loss.max()) * 1.05, 60)
    bands = {
        "loss": grid.tolist(),
        "data_min": float(loss.min()),
        "confidence": band_json(s2.band(grid, LEVEL, "confidence")),
        "prediction": band_json(s2.band(grid, LEVEL, "prediction")),
        "target": {"loss": interval_json(prediction.loss), "accuracy": interval_json(prediction.accuracy)},
    }
    acc_pred = s2.predict(loss)
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "n": p.n, "d": p.d, "observed": p.loss,
         "accuracy": p.accuracy, "residual": float(r1), "accuracy_predicted": float(a2),
         "accuracy_residual": float(r2)}
        for p, r1, a2, r2 in zip(pts, s1.residuals, acc_pred, s2.residuals, strict=True)
    ]  # fmt: skip
    c_target = 6.0 * target_n * target_d
    warnings = warnings_json(
        ladder.warnings_,
        check_extrapolation(c_target, s1.compute_range),
        [w for w in allocation_warnings(s1, None, LEVEL) if w.code != "tokens_per_parameter"],
        miss1,
        miss2,
    )
    return FitOutcome(
        params,
        {"level": LEVEL, "bands": bands},
        residuals,
        goodness(s1.residuals, s1.r2, len(pts), total - len(pts)),
        intervals=intervals,
        derived=[
            {
                "compute": c_target,
                "label": f"target N = {target_n:.3g}, D = {target_d:.3g}",
                "values": {
                    "task_loss": interval_json(prediction.loss),
                    "accuracy": interval_json(prediction.accuracy),
                },
            }
        ],
        warnings=warnings,
    )


SPEC = StudyKind(
    kind="downstream",
    label="Loss -> downstream accuracy (two-step, OLMo ladder)",
    method="downstream_ladder",
    points=run_points,
    fit=fit,
    figures=downstream_figures,
    point_row=run_point_row,
    options_help='{"target_n": 7e9, "target_d": 4e12, "n_bootstrap": 100}; accuracy from run config',
    options=(
        OptionSpec(
            "target_n",
            "float",
            "target model size N",
            None,
            lo=1e3,
            hi=1e15,
            help="left empty: 10x the largest N in the ladder",
        ),
        OptionSpec(
            "target_d",
            "float",
            "target tokens D",
            None,
            lo=1e3,
            hi=1e17,
            help="left empty: 10x the largest D in the ladder",
        ),
        BOOTSTRAP_OPTION,
        SEED_OPTION,
    ),
    needs=lambda options: NEEDS,
)
