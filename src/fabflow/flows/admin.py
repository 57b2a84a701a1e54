"""Django admin for superusers: flows and versions."""

from django.contrib import admin

from fabflow.flows.models import Flow, FlowVersion


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["name", "space", "current_version", "archived", "updated_at"]
    list_filter = ["archived"]


@admin.register(FlowVersion)
class FlowVersionAdmin(admin.ModelAdmin):
    list_display = ["flow", "number", "created_at", "created_by"]
