from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from tracker import models as m
from tracker.accounts.services import api_token_assign_key
from tracker.catalog.names import model_key
from tracker.catalog.services import model_merge


@admin.register(m.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(m.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=m.TokenScope.choices, widget=forms.CheckboxSelectMultiple, initial=[m.TokenScope.READ]
    )

    class Meta:
        model = m.ApiToken
        fields = ["user", "name", "scopes", "expires_at", "revoked_at"]


@admin.register(m.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens made here get their secret on save; it is shown once, in the confirmation message."""

    form = ApiTokenForm
    list_display = ["name", "user", "prefix", "scopes", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: m.ApiToken, form: Any, change: bool) -> None:
        secret = None if change else api_token_assign_key(token=obj)
        super().save_model(request, obj, form, change)
        if secret is not None:
            self.message_user(
                request,
                f"API token “{obj.name}” created. Its secret is shown only now; copy it: {secret}",
                level=messages.WARNING,
            )


class WebhookSecretInline(admin.TabularInline):
    model = m.WebhookSecret
    extra = 0


@admin.register(m.Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "slug", "is_active"]
    inlines = [WebhookSecretInline]


@admin.register(m.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "url"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(m.Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(m.SourceDocument)
class SourceDocumentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "team", "size_bytes", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "sha256"]


@admin.register(m.Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ["title", "arxiv_id", "doi", "published"]
    search_fields = ["title", "arxiv_id", "doi"]
    filter_horizontal = ["tags"]


class HardwarePriceInline(admin.TabularInline):
    model = m.HardwarePrice
    extra = 0


@admin.register(m.Hardware)
class HardwareAdmin(admin.ModelAdmin):
    list_display = ["name", "vendor", "tdp_watts", "memory_gb"]
    inlines = [HardwarePriceInline]


@admin.register(m.HardwarePrice)
class HardwarePriceAdmin(admin.ModelAdmin):
    list_display = ["hardware", "usd_per_gpu_hour", "valid_from", "provider"]
    list_filter = ["hardware"]


class FactInline(admin.TabularInline):
    model = m.Fact
    extra = 0
    fields = ["name", "value", "unit", "confidence", "source", "location", "conflicting"]


class ModelAliasInline(admin.TabularInline):
    model = m.ModelAlias
    extra = 0
    fields = ["alias", "key", "source", "document", "note"]
    readonly_fields = ["key"]
    fk_name = "model"


@admin.register(m.Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "family", "organization", "release_date", "parameters", "training_tokens"]
    list_filter = ["family", "organization", "team"]
    search_fields = ["name", "family", "aliases__alias"]
    filter_horizontal = ["papers"]
    inlines = [ModelAliasInline, FactInline]
    actions = ["merge_into_oldest"]

    @admin.action(description="Merge the selected models into the oldest of them (names become aliases)")
    def merge_into_oldest(self, request: HttpRequest, queryset: Any) -> None:
        chosen = list(queryset.order_by("pk"))
        if len(chosen) < 2:
            self.message_user(request, "Select at least two models to merge.", messages.ERROR)
            return
        survivor = chosen[0]
        try:
            with transaction.atomic():
                for duplicate in chosen[1:]:
                    model_merge(survivor=survivor, duplicate=duplicate, user=request.user)
        except ValueError as exc:
            self.message_user(request, f"Not merged: {exc}", messages.ERROR)
            return
        names = ", ".join(d.name for d in chosen[1:])
        self.message_user(request, f"Merged {names} into {survivor.name}.", messages.SUCCESS)


@admin.register(m.ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ["alias", "model", "team", "source", "key", "created_at"]
    list_filter = ["source"]
    search_fields = ["alias", "key", "model__name"]
    raw_id_fields = ["model", "document"]
    readonly_fields = ["key"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.key = model_key(obj.alias)
        obj.team = obj.model.team
        super().save_model(request, obj, form, change)


@admin.register(m.ModelPaperLink)
class ModelPaperLinkAdmin(admin.ModelAdmin):
    list_display = ["model", "paper", "found_in", "status", "confidence", "source", "decided_by"]
    list_filter = ["status", "found_in"]
    search_fields = ["model__name", "paper__title", "evidence"]
    raw_id_fields = ["model", "paper", "source"]
    # Decided on the model and paper pages (the service keeps Model.papers in step), not here.
    readonly_fields = ["status", "decided_by", "decided_at"]


@admin.register(m.ModelMerge)
class ModelMergeAdmin(admin.ModelAdmin):
    list_display = ["merged_name", "merged_id", "survivor", "merged_by", "merged_at"]
    readonly_fields = ["survivor", "merged_name", "merged_id", "moved", "merged_by", "merged_at"]


@admin.register(m.Fact)
class FactAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "value",
        "unit",
        "model",
        "paper",
        "confidence",
        "source",
        "location",
        "conflicting",
    ]
    list_filter = ["name", "conflicting"]
    search_fields = ["name", "model__name"]


class MetricSeriesInline(admin.TabularInline):
    model = m.MetricSeries
    extra = 0
    fields = ("name", "n_points", "min_step", "max_step", "last_value", "source")
    readonly_fields = fields


class RunTagInline(admin.TabularInline):
    model = m.RunTag
    extra = 0
    fields = ("name", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")


@admin.register(m.RunTag)
class RunTagAdmin(admin.ModelAdmin):
    list_display = ["name", "run", "created_by", "created_at"]
    search_fields = ["name", "run__name"]
    raw_id_fields = ["run"]


@admin.register(m.TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "status",
        "parameters",
        "tokens",
        "hardware",
        "precision",
        "synthetic_share",
    ]
    list_filter = ["team", "status", "precision", "hardware"]
    search_fields = ["name", "external_id"]
    inlines = [RunTagInline, MetricSeriesInline]


@admin.register(m.MetricSeries)
class MetricSeriesAdmin(admin.ModelAdmin):
    list_display = ["run", "name", "n_points", "min_step", "max_step", "last_value"]
    search_fields = ["name", "run__name"]
    readonly_fields = ["n_points", "min_step", "max_step", "min_value", "max_value", "last_value"]


@admin.register(m.Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "fmt", "language", "created_at"]
    list_filter = ["fmt", "language"]
    search_fields = ["title"]
    raw_id_fields = ["document"]


@admin.register(m.Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["subject", "quantity", "value", "text_value", "status", "article", "line"]
    list_filter = ["status", "quantity"]
    search_fields = ["subject", "excerpt"]
    raw_id_fields = ["article", "model", "checked_against"]
