from django.db import models


class School(models.Model):
    name = models.CharField(max_length=120)
    level = models.CharField(max_length=20, db_index=True)
    district = models.CharField(max_length=60)
    pupils = models.IntegerField()

    class Meta:
        ordering = ["name"]
