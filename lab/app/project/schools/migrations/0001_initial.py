from django.db import migrations, models

LEVELS = ("primary", "secondary", "special")
DISTRICTS = ("North", "South", "East", "West", "Central")


def seed(apps, schema_editor):
    School = apps.get_model("schools", "School")
    School.objects.bulk_create(
        School(
            name=f"School {n:03d}",
            level=LEVELS[n % len(LEVELS)],
            district=DISTRICTS[n % len(DISTRICTS)],
            pupils=100 + (n * 37) % 900,
        )
        for n in range(300)
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="School",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=120)),
                ("level", models.CharField(db_index=True, max_length=20)),
                ("district", models.CharField(max_length=60)),
                ("pupils", models.IntegerField()),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
