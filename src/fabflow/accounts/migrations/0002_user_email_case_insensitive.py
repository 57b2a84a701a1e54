"""E-mail logins without case: stored addresses in lower case, unique regardless of case."""

from typing import Any

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def lower_case_emails(apps: Any, schema_editor: Any) -> None:
    """Lower-case stored addresses; refuse (changing nothing) if two differ only in case."""
    User = apps.get_model("accounts", "User")
    users = User.objects.using(schema_editor.connection.alias)
    clashes = list(
        users.values(address=Lower("email"))
        .annotate(count=Count("id"))
        .filter(count__gt=1)
        .values_list("address", flat=True)
    )
    if clashes:
        raise RuntimeError(
            "These e-mail addresses belong to more than one user when case is ignored: "
            f"{', '.join(sorted(clashes))}. Merge or rename those users, then migrate again."
        )
    # The database's LOWER, as the index below uses it.
    users.exclude(email=Lower("email")).update(email=Lower("email"))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunPython(lower_case_emails, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ),
    ]
