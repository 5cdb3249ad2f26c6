"""The CSV export is byte for byte what `COPY (SELECT step, value, wall_time ...) TO STDOUT (FORMAT csv)` gave
for the old narrow table: compared here with PostgreSQL's own output for the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from core.roles import Role
from tracker.models import MetricSeries, TrainingRun
from tracker.runs.series.copy import SeriesPoints, points_insert_new
from tracker.runs.series.text import csv_rows, float_tokens, int_tokens, pg_float_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (-0.0, "-0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (123456789012345.6, "123456789012345.6"),
        (1e15, "1e+15"),
        (1234567890123456.0, "1.234567890123456e+15"),
        (1e16, "1e+16"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (5e-324, "5e-324"),
    ],
)
def test_float_text_layout(value, text):
    assert pg_float_text(value) == text


def diverse_values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = n // 6
    return np.concatenate(
        [
            rng.integers(-(2**63), 2**63 - 1, k, dtype=np.int64).view(np.float64),  # any bit pattern
            10.0 ** rng.uniform(-320, 308, k) * rng.choice([-1, 1], k),
            np.round(rng.normal(3, 1, k), int(rng.integers(0, 7))),  # logged decimals
            np.floor(10.0 ** rng.uniform(14, 22, k)),  # the 1e15 switch and integers above 2**53
            np.round(rng.uniform(-1e6, 1e6, k)),  # integral values: no ".0"
            np.array(
                [0.0, -0.0, np.nan, np.inf, -np.inf, 1e15, 1e16, 2.0**53, 2.0**53 + 2, 5e-324] * (k // 10)
            ),
        ]
    )


@pytest.mark.django_db
def test_series_csv_equals_postgres_copy_of_the_narrow_rows(team_a, make_user):
    values = diverse_values(60_000, seed=4)
    rng = np.random.default_rng(8)
    steps = np.sort(rng.choice(2**40, values.size, replace=False)).astype(np.int64) - 2**39
    walls = np.where(rng.random(values.size) < 0.4, np.nan, 10.0 ** rng.uniform(-5, 10, values.size))
    run = TrainingRun.objects.create(team=team_a, name="exact")
    series = MetricSeries.objects.create(run=run, name="v")
    with transaction.atomic():
        points_insert_new(
            batches=[SeriesPoints(series_id=series.pk, steps=steps, values=values, wall_times=walls)],
            finite_only=False,
        )
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    response = client.get(reverse("runs:series-csv", args=[run.pk, series.pk]))
    ours = b"".join(response.streaming_content)

    # Today's export, from the same rows in a narrow table like the old tracker_metricpoint.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE old_points (step bigint, value float8, wall_time float8)")
        with cursor.copy("COPY old_points FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "float8", "float8"])
            for s, v, w in zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True):
                copy.write_row((s, v, None if w != w else w))
        sql = "COPY (SELECT step, value, wall_time FROM old_points ORDER BY step) TO STDOUT WITH (FORMAT csv, HEADER)"
        with cursor.copy(sql) as copy:
            theirs = b"".join(bytes(chunk) for chunk in copy)
        cursor.execute("DROP TABLE old_points")
    assert ours.count(b"\n") == values.size + 1
    assert ours == theirs


def test_rows_without_the_database_use_python_digits_below_two_to_the_53():
    body = csv_rows(
        np.array([1, 2, 3]), np.array([0.5, 3.0, np.nan]), np.array([np.nan, 1e-7, 1700000000.25])
    )
    assert body == b"1,0.5,\n2,3,1e-07\n3,NaN,1700000000.25\n"


def _texts(tokens) -> list[str]:
    mat, mask = tokens
    return [bytes(row[keep]).decode() for row, keep in zip(mat, mask, strict=True)]


@pytest.mark.parametrize("digits", range(1, 17))
def test_decimal_fast_path_prints_the_shortest_digits(digits):
    """The NumPy layout of short decimals equals the shortest-repr text for every precision and magnitude."""
    rng = np.random.default_rng(digits)
    raw = 10.0 ** rng.uniform(-12, 15, 5000) * rng.choice([-1, 1], 5000)
    values = np.array(
        [float(f"{v:.{digits}g}") for v in raw] + [float(f"{v:.{digits % 8}f}") for v in raw[:2000]]
    )
    assert _texts(float_tokens(values)) == [pg_float_text(v) for v in values.tolist()]


def test_fast_and_slow_paths_mix_in_one_batch_and_blanks_are_empty():
    values = np.array([2.5, 0.1 + 0.2, np.nan, -0.0, 3e-05, 1e15, 7.0, 1e-300, -123.456])
    blank = np.zeros(values.size, dtype=bool)
    blank[6] = True
    expected = ["2.5", "0.30000000000000004", "NaN", "-0", "3e-05", "1e+15", "", "1e-300", "-123.456"]
    assert _texts(float_tokens(values, blank=blank)) == expected


def test_int_text_over_the_whole_int64_range():
    steps = np.r_[
        np.arange(-12, 12), -(2**63), 2**63 - 1, np.random.default_rng(0).integers(-(2**63), 2**63 - 1, 500)
    ]
    assert _texts(int_tokens(steps.astype(np.int64))) == [str(s) for s in steps.tolist()]
