from django.contrib import admin

from ingestion.models import ApiMetricBatch, IngestFile, IngestFileProgress, IngestJob, WebhookDelivery


class IngestFileInline(admin.TabularInline):
    model = IngestFile
    fk_name = "job"
    extra = 0
    fields = ("original_name", "status", "detected_format", "size", "rows_done", "errors")
    readonly_fields = fields
    can_delete = False


@admin.register(IngestJob)
class IngestJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "team", "source", "status", "files_done", "files_total", "rows_done", "created_at"]
    list_filter = ["status", "source", "team"]
    readonly_fields = ["files_total", "files_done", "bytes_total", "bytes_done", "rows_done", "started_at"]
    inlines = [IngestFileInline]


@admin.register(IngestFile)
class IngestFileAdmin(admin.ModelAdmin):
    list_display = ["original_name", "job", "status", "detected_format", "size", "rows_done", "attempts"]
    list_filter = ["status", "detected_format"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["sha256", "stored_path", "size", "errors", "attempts"]


@admin.register(IngestFileProgress)
class IngestFileProgressAdmin(admin.ModelAdmin):
    list_display = ["file", "stage", "rows_done", "rows_total", "stage_started_at", "updated_at"]
    list_filter = ["stage"]
    raw_id_fields = ["file"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["delivery_id", "integration", "event_type", "status", "received_at", "processed_at"]
    list_filter = ["status", "event_type", "integration"]
    search_fields = ["delivery_id"]
    readonly_fields = ["delivery_id", "event_type", "payload", "received_at", "processed_at"]


@admin.register(ApiMetricBatch)
class ApiMetricBatchAdmin(admin.ModelAdmin):
    """Metric batches logged through the API, by idempotency key (read-only: the points are the record)."""

    list_display = ("run", "key", "n_points", "created_at")
    search_fields = ("key", "run__name")
    list_select_related = ("run",)
    readonly_fields = ("run", "key", "n_points", "created_at")
