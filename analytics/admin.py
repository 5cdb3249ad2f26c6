from typing import Any

from django import forms
from django.contrib import admin

from analytics.models import Fit, Report, ReportFile, Study
from analytics.studies.authoring import SpecError, conditions_from_data


class StudyAdminForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = [
            "team",
            "name",
            "kind",
            "runs",
            "run_filter",
            "target_metric",
            "options",
            "refit_requested_at",
        ]

    def clean_run_filter(self) -> Any:
        """Only whitelisted conditions are stored, never ORM lookups (the pages build the same list)."""
        value = self.cleaned_data["run_filter"]
        try:
            return [c.as_data() for c in conditions_from_data(value or [], "run_filter")]
        except SpecError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyAdminForm
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
