"""Django admin for superusers: orders and their timeline."""

from django.contrib import admin

from fabflow.orders.models import Asset, Order, OrderEvent, Part, Product


class ProductInline(admin.TabularInline):
    model = Product
    extra = 0
    fields = ["name", "units", "unit_value", "configuration_id"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["name", "space", "status", "value", "created_at", "deadline"]
    list_filter = ["status", "space"]
    search_fields = ["name", "third_party_order_id", "customer_email"]
    inlines = [ProductInline]
    readonly_fields = ["value", "tag_index"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "units", "unit_value", "created_at"]
    search_fields = ["name", "order__name"]
    raw_id_fields = ["order"]


@admin.register(Part)
class PartAdmin(admin.ModelAdmin):
    list_display = ["name", "product", "order", "created_at"]
    search_fields = ["name", "product__name", "order__name"]
    raw_id_fields = ["order", "product"]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "state", "source", "size", "created_at"]
    list_filter = ["state", "source"]
    raw_id_fields = ["order", "product", "part"]


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ["order", "kind", "message", "actor", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["order"]
