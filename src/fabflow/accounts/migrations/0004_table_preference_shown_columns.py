"""Table preferences also record the columns a user showed, so a column added later takes its
default instead of showing for everyone who ever saved a choice."""

from typing import Any

from django.db import migrations, models

# The columns hidden by default when preferences held only the hidden list (the ids): a saved
# list without one of them means the user showed it.
_HIDDEN_BY_DEFAULT = {
    "orders": ["order_id"],
    "products": ["product_id", "order_id"],
    "parts": ["part_id", "product_id", "order_id"],
}


def record_shown(apps: Any, schema_editor: Any) -> None:
    preferences = apps.get_model("accounts", "TablePreference")
    for pref in preferences.objects.all():
        ids = _HIDDEN_BY_DEFAULT.get(pref.table, [])
        pref.shown_columns = [key for key in ids if key not in pref.hidden_columns]
        pref.save(update_fields=["shown_columns"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_signing_secret_rotation_and_time_zones"),
    ]

    operations = [
        migrations.AddField(
            model_name="tablepreference",
            name="shown_columns",
            field=models.JSONField(default=list),
        ),
        migrations.RunPython(record_shown, migrations.RunPython.noop),
    ]
