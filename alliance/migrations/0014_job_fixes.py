from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alliance", "0013_notices"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
