import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """A white paper whose source names no offeror is about no entity: its event has none (record-type and
    jurisdiction watches still reach it); every other event keeps naming one."""

    dependencies = [
        ("watch", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="entity",
            field=models.ForeignKey(
                blank=True,
                help_text="The entity it is about (a licence's holder, a certificate's subject, a white paper's "
                "offeror); empty only for a white paper whose source names no offeror.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="registry.entity",
            ),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.CheckConstraint(
                condition=models.Q(("entity__isnull", False), ("record_type", "whitepaper"), _connector="OR"),
                name="watch_event_entity_unless_white_paper",
                violation_error_message="Only a white paper's event may be about no entity.",
            ),
        ),
    ]
