"""Signing secret rotation (the previous secret and when it was replaced); time zones of
organizations and people."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_user_email_case_insensitive"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="time_zone",
            field=models.CharField(default="UTC", max_length=64),
        ),
        migrations.AddField(
            model_name="space",
            name="previous_signing_secret",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="space",
            name="signing_secret_rotated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="time_zone",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
