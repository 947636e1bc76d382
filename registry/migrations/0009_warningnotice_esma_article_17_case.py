"""ESMA's ``ae_infrigment`` is a case against a national authority under Article 17 of Regulation (EU)
No 1095/2010, not a finding about the listed firm: the column is named for what it holds."""

from django.db import migrations, models

HELP_TEXT = (
    "ESMA's column ae_infrigment, as published. ESMA defines it as “Case of infringement identified by ESMA "
    "in accordance with Article 17 of Regulation (EU) No 1095/2010”: ESMA's breach-of-Union-law procedure "
    "against a national authority, not a finding about the listed firm."
)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0008_license_sort_keys"),
    ]

    operations = [
        migrations.RenameField(model_name="warningnotice", old_name="infringement", new_name="esma_article_17_case"),
        migrations.RenameField(
            model_name="historicalwarningnotice", old_name="infringement", new_name="esma_article_17_case"
        ),
        migrations.AlterField(
            model_name="warningnotice",
            name="esma_article_17_case",
            field=models.CharField(blank=True, help_text=HELP_TEXT, max_length=300, verbose_name="ESMA Article 17 case"),
        ),
        migrations.AlterField(
            model_name="historicalwarningnotice",
            name="esma_article_17_case",
            field=models.CharField(blank=True, help_text=HELP_TEXT, max_length=300, verbose_name="ESMA Article 17 case"),
        ),
    ]
