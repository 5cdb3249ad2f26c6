from django.contrib import admin

from analytics.models import Fit, Report, ReportFile, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "kind", "target_metric", "created_at"]
    list_filter = ["kind", "team"]
    search_fields = ["name"]
    filter_horizontal = ["runs"]


@admin.register(Fit)
class FitAdmin(admin.ModelAdmin):
    list_display = ["study", "version", "method", "status", "created_at"]
    list_filter = ["status", "method"]
    readonly_fields = [f.name for f in Fit._meta.fields]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["pk", "team", "scope", "status", "progress", "digest_key", "created_at"]
    list_filter = ["status", "scope", "team"]
    readonly_fields = [f.name for f in Report._meta.fields]


@admin.register(ReportFile)
class ReportFileAdmin(admin.ModelAdmin):
    list_display = ["report", "format", "size", "sha256"]
    readonly_fields = [f.name for f in ReportFile._meta.fields]
