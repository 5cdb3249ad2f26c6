"""Study pages show what a fit can be trusted for, in a real browser: plausibility warnings, intervals with
open bounds named, derived quantities per budget, figures with bands, and run names on hover."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analytics.fitting.simulate import isoflop_sweep
from analytics.studies import services as study_services
from tests.analytics.fitting.test_isoflop import EPOCH_LAW
from tests.analytics.studies.test_fit_trust import _datablations
from tests.e2e.conftest import login, screenshot, wait_js
from tracker.models import TrainingRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots-trust")


def _shot(page, name: str) -> None:
    path = screenshot(page, name)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def test_study_pages_show_warnings_intervals_bands_and_run_names(page, make_user, team_a):
    _datablations(team_a)
    sweep = isoflop_sweep(EPOCH_LAW, seed=1)
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team_a,
            name=f"iso-{i}",
            parameters=float(n),
            tokens=float(c / (6 * n)),
            final_loss=float(loss),
        )
        for i, (c, n, loss) in enumerate(zip(sweep.compute, sweep.n, sweep.loss, strict=True))
    )
    base = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596}
    studies = {}
    for name, kind, prefix, options in (
        ("chinchilla", "chinchilla", "db-", {"n_bootstrap": 10}),
        ("isoflop", "isoflop", "iso-", {}),
        ("data_constrained", "data_constrained", "db-", {"base": base}),
    ):
        study = study_services.study_create(
            team=team_a, name=name, kind=kind, run_filter={"name__startswith": prefix}, options=options
        )
        fit = study_services.study_refit(study_id=study.pk)
        assert fit.status == "current", fit.error_message
        studies[name] = study
    make_user("viewer", team=team_a, username="vic")
    login(page, "vic")

    page.goto(f"/studies/{studies['chinchilla'].pk}/")
    wait_js(page, "document.querySelectorAll('.plot .main-svg').length >= 3")
    warnings = page.locator("#fit-warnings li")
    assert warnings.count() >= 2
    assert page.locator("#fit-warnings [data-code=tokens_per_parameter]").count() == 2
    assert "planning budget" in page.locator("table.derived").nth(1).inner_text()
    # Hovering a run shows its name (Plotly's hover label).
    page.locator(".plot").first.scroll_into_view_if_needed()
    point = page.locator(".plot").first.locator(".scatterlayer .trace .points path").first
    point.hover(force=True)
    wait_js(page, "!!document.querySelector('.hoverlayer .hovertext')", timeout=5_000)
    hover = page.evaluate("document.querySelector('.hoverlayer .hovertext').textContent")
    assert hover.startswith("db-")  # the run's name (an SVG text node)
    _shot(page, "study-chinchilla")

    page.goto(f"/studies/{studies['isoflop'].pk}/")
    wait_js(page, "document.querySelectorAll('.plot .main-svg').length >= 3")
    assert "not a parabola" in page.locator("#fit-notes").inner_text()
    assert "IsoFLOP curves" in page.locator(".plot").first.inner_text()
    _shot(page, "study-isoflop")

    page.goto(f"/studies/{studies['data_constrained'].pk}/")
    wait_js(page, "document.querySelectorAll('.plot .main-svg').length >= 3")
    row = page.locator("#fit-params tr", has_text="rd_star").first
    assert "not identified above" in row.inner_text()
    assert page.locator("#fit-warnings [data-code=not_identified]").count() >= 1
    _shot(page, "study-data-constrained")


def test_new_kind_pages_draw_their_figures(page, make_user, team_a):
    from tests.analytics.fitting import test_diffusion_ar as dar
    from tests.analytics.fitting import test_kaplan as kp
    from tests.analytics.fitting import test_test_time as tt

    n, d, loss = kp._runs(0)
    rows = [
        TrainingRun(team=team_a, name=f"kap-{i}", parameters=a, tokens=b, final_loss=c)
        for i, (a, b, c) in enumerate(zip(n, d, loss))
    ]
    names, flops, acc = tt._runs(0)
    rows += [
        TrainingRun(
            team=team_a,
            name=f"tt-{i}",
            parameters=tt.N_SMALL,
            config={"strategy": s, "inference_flops": f, "benchmarks": {"MATH": a}},
        )
        for i, (s, f, a) in enumerate(zip(names, flops, acc))
    ]
    objective, n, d, u, loss = dar._runs()
    rows += [
        TrainingRun(
            team=team_a,
            name=f"dar-{i}",
            parameters=a,
            tokens=b,
            unique_tokens=c,
            final_loss=e,
            config={"objective": o},
        )
        for i, (o, a, b, c, e) in enumerate(zip(objective, n, d, u, loss))
    ]
    TrainingRun.objects.bulk_create(rows)
    base_ar = {k: getattr(dar.MUENNIGHOFF_C4, k) for k in ("a", "b", "e", "alpha", "beta")}
    base_di = {k: getattr(dar.DIFFUSION_BASE, k) for k in ("a", "b", "e", "alpha", "beta")}
    ids = {}
    for kind, prefix, target, options in (
        ("kaplan", "kap-", "final_loss", {"n_bootstrap": 50}),
        ("test_time", "tt-", "benchmark:MATH", {"n_bootstrap": 50}),
        ("diffusion_ar", "dar-", "final_loss", {"base_ar": base_ar, "base_diffusion": base_di}),
    ):
        study = study_services.study_create(
            team=team_a,
            name=kind,
            kind=kind,
            run_filter={"name__startswith": prefix},
            target_metric=target,
            options=options,
        )
        fit = study_services.study_refit(study_id=study.pk)
        assert fit.status == "current", fit.error_message
        ids[kind] = study.pk
    make_user("viewer", team=team_a, username="val")
    login(page, "val")
    for kind, pk in ids.items():
        page.goto(f"/studies/{pk}/")
        wait_js(page, "document.querySelectorAll('.plot .main-svg').length >= 2")
        assert page.locator("#fit-params tbody tr").count() >= 3
        _shot(page, f"study-{kind.replace('_', '-')}")
