from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("stats", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dailyvolume",
            index=models.Index(fields=["account", "mailbox_type", "day"], name="stats_volume_acct_type_day"),
        ),
    ]
