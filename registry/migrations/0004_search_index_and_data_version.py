"""Once installed the search index and the data version by importing live code (registry/search.py,
registry/caching.py), which made replaying it run today's SQL on this migration's schema.

Now empty: the derived data (search index, data version, stored visibility and sort keys) is installed by
0012_derived_data_triggers, whose SQL is frozen in it. Databases that ran the old version keep their
triggers until 0012 replaces them.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_esma_import"),
    ]

    operations = []
