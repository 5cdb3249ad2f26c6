"""Compressed metric storage: chunk rows and rollup blocks next to the old narrow tables (converted in 0008)."""

import django.db.models.deletion
from django.db import migrations, models


def blobs_out_of_line(apps, schema_editor):
    # The blobs are zstd frames already: EXTERNAL stores them out of line without a second (pglz) attempt.
    for table in ("tracker_metricchunk", "tracker_metricrollupblock"):
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN data SET STORAGE EXTERNAL")


class Migration(migrations.Migration):

    dependencies = [
        ("tracker", "0006_token_scopes_and_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricseries",
            name="data_version",
            field=models.BigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="MetricChunk",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "series_id", "first_step", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("first_step", models.BigIntegerField()),
                ("last_step", models.BigIntegerField()),
                ("n_points", models.IntegerField()),
                ("first_value", models.FloatField()),
                ("last_value", models.FloatField()),
                ("min_step", models.BigIntegerField()),
                ("min_value", models.FloatField()),
                ("max_step", models.BigIntegerField()),
                ("max_value", models.FloatField()),
                ("data", models.BinaryField()),
                (
                    "series",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tracker.metricseries",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="MetricRollupBlock",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "series_id", "level", "block", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("level", models.PositiveSmallIntegerField()),
                ("block", models.BigIntegerField()),
                ("n_cells", models.IntegerField()),
                ("data", models.BinaryField()),
                (
                    "series",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tracker.metricseries",
                    ),
                ),
            ],
        ),
        migrations.RunPython(blobs_out_of_line, migrations.RunPython.noop),
    ]
