"""Seal each TOTP secret under a key derived from the instance secret, then drop the plain column."""

from django.db import migrations, models


def seal_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    from careseal.console.models import seal_secret

    StaffTOTP = apps.get_model("careseal_console", "StaffTOTP")
    for row in StaffTOTP.objects.all():
        row.sealed_secret = seal_secret(row.secret, row.user_id)
        row.save(update_fields=["sealed_secret"])


def open_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    from careseal.vault.secretbox import open_text

    from careseal.console.models import _key

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
        migrations.RemoveField(model_name="stafftotp", name="secret"),
        migrations.AlterField(model_name="stafftotp", name="sealed_secret", field=models.TextField()),
    ]
