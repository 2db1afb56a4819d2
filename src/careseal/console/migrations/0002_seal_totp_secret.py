"""Seal each TOTP secret under a key derived from the instance secret, then drop the plain column.

The sealing is spelled out here rather than imported from the models, so
this migration keeps its meaning if the models change. It reverses too.
"""

from django.conf import settings
from django.db import migrations, models

from careseal.vault.secretbox import derive_key, open_text, seal_text


def _key():  # type: ignore[no-untyped-def]
    return derive_key(settings.SECRET_KEY, "staff-totp")


def seal_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    StaffTOTP = apps.get_model("careseal_console", "StaffTOTP")
    for row in StaffTOTP.objects.all():
        row.sealed_secret = seal_text(_key(), row.secret, f"staff-totp:{row.user_id}")
        row.save(update_fields=["sealed_secret"])


def open_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    StaffTOTP = apps.get_model("careseal_console", "StaffTOTP")
    for row in StaffTOTP.objects.all():
        row.secret = open_text(_key(), row.sealed_secret, f"staff-totp:{row.user_id}")
        row.save(update_fields=["secret"])


class Migration(migrations.Migration):

    dependencies = [
        ("careseal_console", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="stafftotp", name="sealed_secret", field=models.TextField(default="")),
        migrations.RunPython(seal_existing, open_existing),
        # A default, so that reversing the removal can add the column back to a table with rows.
        migrations.AlterField(model_name="stafftotp", name="secret",
                              field=models.CharField(max_length=64, default="")),
        migrations.RemoveField(model_name="stafftotp", name="secret"),
        migrations.AlterField(model_name="stafftotp", name="sealed_secret", field=models.TextField()),
    ]
