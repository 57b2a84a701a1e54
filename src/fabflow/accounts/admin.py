"""Django admin for superusers: organizations, users, spaces, secret keys."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from fabflow.accounts.models import Organization, SecretKey, Space, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "organization", "role", "is_active", "is_superuser"]
    list_filter = ["role", "is_active", "is_superuser"]
    search_fields = ["email"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Organization", {"fields": ["organization", "role", "tags"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "password1", "password2", "organization"]})]


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "organization", "created_at"]
    search_fields = ["key", "name"]
    exclude = ["signing_secret", "previous_signing_secret"]


@admin.register(SecretKey)
class SecretKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "space", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "last_used_at"]
    list_filter = ["space"]
