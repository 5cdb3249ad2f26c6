from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("tracker", "0008_metricpoint_to_chunks"),
    ]

    operations = [
        migrations.DeleteModel(name="MetricSeriesRollup"),
        migrations.DeleteModel(name="MetricPoint"),
    ]
