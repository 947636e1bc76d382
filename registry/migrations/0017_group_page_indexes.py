"""Partial covering indexes for a group's page: its members' public licences and audits, read from the index alone.

AddIndex creates an index without rebuilding the table on SQLite, so the derived data's triggers stay in place.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0016_tokens_white_papers"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="license",
            index=models.Index(
                condition=models.Q(("public", True)),
                fields=["holder", "granted_on", "public"],
                name="license_public_holder_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="audit",
            index=models.Index(
                condition=models.Q(("public", True)),
                fields=["subject", "kind", "ongoing", "period_start", "period_end", "issued_on", "public"],
                name="audit_public_subject_idx",
            ),
        ),
    ]
