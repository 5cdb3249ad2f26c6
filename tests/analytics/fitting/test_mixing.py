"""RegMix data: fit on 1M-parameter proxy runs, rank held-out mixtures at 1M, 60M and 1B parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.fitting.mixing import ExpLinearMixingLaw, Table, align, evaluate_transfer, read_table
from analytics.fitting.synthetic import FitError

REF = Path(__file__).resolve().parents[3] / "data" / "reference"


def _load(stem: str) -> Table:
    return read_table((REF / f"regmix_{stem}.csv").read_text(), name=f"regmix_{stem}.csv")


@pytest.fixture(scope="module")
def regmix() -> tuple[tuple[Table, Table], dict[str, tuple[Table, Table]]]:
    train = (_load("train_mixture_1m"), _load("train_pile_loss_1m"))
    tests = {s: (_load(f"test_mixture_{s}"), _load(f"test_pile_loss_{s}")) for s in ("1m", "60m", "1B")}
    return train, tests


def test_tables_join_on_index(regmix) -> None:
    (mix, loss), tests = regmix
    w, y, domains = align(mix, loss, "the_pile_pile_cc")
    assert w.shape == (512, 17) and y.shape == (512,)
    assert domains[11] == "the_pile_pile_cc"
    # Row index 1 of the train set is 78.7% Pile-CC.
    assert w[0, 11] == 0.787
    # The 1B test files index from 0, the others from 1: joining must be by key, not position.
    w1b, y1b, _ = align(*tests["1B"], "the_pile_pile_cc")
    assert w1b.shape == (64, 17) and w1b[0, 11] == 0.27 and y1b[0] == pytest.approx(2.932116032)
    assert np.allclose(w.sum(axis=1), 1.0, atol=0.01)


# Spearman rho of predicted vs actual Pile-CC loss, measured with these exact models (train on 512 1M runs):
#   ridge     1m 0.9015  60m 0.8925  1B 0.8811
#   exp_law   1m 0.9584  60m 0.9527  1B 0.9837   (Ye et al. multi-domain exp form)
#   exp_target 1m 0.8170 60m 0.8138  1B 0.9808   (exp form on the Pile-CC weight alone)
#   hgb       1m 0.9902  60m 0.9855  1B 0.9587   (RegMix used LightGBM)
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("ridge", {"1m": 0.9015, "60m": 0.8925, "1B": 0.8811}),
        ("exp_law", {"1m": 0.9584, "60m": 0.9527, "1B": 0.9837}),
        ("exp_target", {"1m": 0.8170, "60m": 0.8138, "1B": 0.9808}),
        ("hgb", {"1m": 0.9902, "60m": 0.9855, "1B": 0.9587}),
    ],
)
def test_pile_cc_loss_rank_correlation_transfers_across_scale(regmix, model: str, expected: dict) -> None:
    train, tests = regmix
    result = evaluate_transfer(train, tests, target="the_pile_pile_cc", model=model)
    assert result.rho == pytest.approx(expected, abs=2e-3)
    assert min(result.rho.values()) >= 0.8


def test_exp_law_on_github_target(regmix) -> None:
    train, tests = regmix
    rho = evaluate_transfer(train, tests, target="the_pile_github", model="exp_law").rho
    assert rho == pytest.approx({"1m": 0.9690, "60m": 0.9604, "1B": 0.9710}, abs=2e-3)


def test_exp_linear_law_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(4), size=60)
    t = np.array([-2.0, 0.5, 1.0, -0.5])
    y = 1.5 + 0.8 * np.exp(w @ t)
    law = ExpLinearMixingLaw().fit(w, y)
    assert law.c_ + law.k_ * np.exp(w @ law.t_) == pytest.approx(y, abs=1e-6)
    assert np.allclose(law.predict(w), y, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "bad.csv: empty file"),
        ("idx,a\n1,2\n", "bad.csv:1: first column must be 'index'"),
        ("index,a,b\n1,0.5,0.5\n2,0.5\n", "bad.csv:3: expected 3 fields, got 2"),
        ("index,a\n1,0.5\n2,abc\n", "bad.csv:3: not a number"),
        ("index,a\n1,0.5\n1,0.4\n", "bad.csv:3: duplicate index '1'"),
        ("index,a\n1,nan\n", "bad.csv:2: NaN or infinite"),
        ("index,a\n", "bad.csv: no data rows"),
    ],
)
def test_bad_csv_names_file_line_and_reason(text: str, message: str) -> None:
    with pytest.raises(FitError, match=message):
        read_table(text, name="bad.csv")


def test_unknown_target_domain(regmix) -> None:
    train, _ = regmix
    with pytest.raises(FitError, match="no loss column for domain 'the_pile_books3'"):
        align(*train, "the_pile_books3")
