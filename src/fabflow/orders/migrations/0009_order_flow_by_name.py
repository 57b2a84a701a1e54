"""The order names its flow (key and version number) instead of a foreign key into flows."""

from django.db import migrations, models


def copy_flow_names(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    for order in Order.objects.exclude(flow_version=None).select_related("flow_version__flow"):
        order.flow_key = order.flow_version.flow.name
        order.flow_version_number = order.flow_version.number
        order.save(update_fields=["flow_key", "flow_version_number"])


def copy_flow_versions(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    FlowVersion = apps.get_model("flows", "FlowVersion")
    for order in Order.objects.exclude(flow_key=""):
        order.flow_version = FlowVersion.objects.filter(
            flow__space_id=order.space_id,
            flow__name=order.flow_key,
            number=order.flow_version_number,
        ).first()
        order.save(update_fields=["flow_version"])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_search_declared_once"),
        ("flows", "0003_flowrun_wake_seq"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="flow_key",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="order",
            name="flow_version_number",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(copy_flow_names, copy_flow_versions),
        migrations.RemoveField(model_name="order", name="flow_version"),
    ]
