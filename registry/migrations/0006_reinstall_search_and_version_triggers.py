"""Once put back the search and data-version triggers that 0005's table rebuilds (SQLite) dropped, by
importing live code.

Now empty: 0012_derived_data_triggers installs every derived-data trigger, with its SQL frozen in it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_history_reason_text"),
    ]

    operations = []
