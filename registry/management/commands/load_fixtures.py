"""``manage.py load_fixtures LABEL ...``: Django's ``loaddata``, plus history and a named failing record.

Use it, not ``loaddata``, for the register's fixtures (``make run`` loads ``jurisdictions`` and ``seed`` with
it): Django's own command, which ``restore`` uses to bring back a JSON dump exactly, records no history and
reports a failed row without saying which record it is. The options are ``loaddata``'s.

Django reports a failed row as ``registry.License(pk=None)``: with natural keys
every new row has no pk, so the operator cannot tell which record broke which
rule. This names it by natural key and adds the rule's own message. Loading
stays atomic: one bad record leaves the database unchanged.

Fixtures are saved raw, which django-simple-history ignores; so, in the same
transaction, each loaded record gets a history entry: "+" when it had none,
"~" when the fixture changed it. A record loaded unchanged gets nothing, so
loading the same fixture twice leaves the database as it was.

What a load makes public is announced to watchers (``watch.outbox.recording_load``: the change feed's rule, as
for a reviewer's publication), in the same transaction, except a register's first load: while nothing
watched (licence, audit, warning notice) is public yet, a load announces nothing (docs/operations.md).
"""

from collections import defaultdict
from pathlib import Path

from django.core.management.base import CommandError
from django.core.management.commands.loaddata import Command as LoadDataCommand
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, IntegrityError
from django.utils import timezone
from simple_history.models import HistoricalRecords

from watch import outbox


def describe_violation(model, error_text):
    """The violation message of every named constraint mentioned in the database error."""
    messages = []
    for constraint in model._meta.constraints:
        if constraint.name in error_text:
            messages.append(str(constraint.get_violation_error_message()).replace("%(name)s", constraint.name))
    return " ".join(messages)


def record_history(instances, reason):
    """Give each loaded instance of a history-tracked model the history entry it is missing."""
    by_model = defaultdict(list)
    for instance in instances:
        if hasattr(instance._meta, "simple_history_manager_attribute"):
            by_model[type(instance)].append(instance)
    now = timezone.now()
    for model, objs in by_model.items():
        history = model.history
        tracked = [field.attname for field in history.model.tracked_fields]
        latest = {}
        for row in history.filter(id__in=[obj.pk for obj in objs]).order_by("id", "history_date", "history_id"):
            latest[row.id] = row
        new = [obj for obj in objs if obj.pk not in latest]
        changed = [
            obj
            for obj in objs
            if obj.pk in latest and any(getattr(obj, name) != getattr(latest[obj.pk], name) for name in tracked)
        ]
        rows = [
            *history.bulk_history_create(new, default_change_reason=reason, default_date=now),
            *history.bulk_history_create(changed, update=True, default_change_reason=reason, default_date=now),
        ]
        if history.model._history_m2m_fields:
            # bulk_history_create leaves out many-to-many snapshots; the library's own
            # routine writes them (it only reads the class-wide table of m2m history models).
            recorder = HistoricalRecords()
            for row, obj in zip(rows, [*new, *changed], strict=True):
                recorder.create_historical_record_m2ms(row, obj)


class Command(LoadDataCommand):
    help = (
        "Load fixtures as loaddata does, giving each new or changed record its history entry and naming the "
        "record a fixture fails on. Use it for the register's fixtures (jurisdictions, seed)."
    )

    def loaddata(self, fixture_labels):
        # Inside loaddata's transaction: the events commit or roll back with the records.
        with outbox.recording_load():
            self.loaded_instances = []
            super().loaddata(fixture_labels)
            names = ", ".join(Path(label).name for label in fixture_labels)
            record_history(self.loaded_instances, f"Loaded from fixture {names}")

    def handle(self, *fixture_labels, **options):
        # An operator needs the reason, not a traceback.
        try:
            return super().handle(*fixture_labels, **options)
        except (DatabaseError, DeserializationError, ValueError) as error:
            raise CommandError(str(error)) from error

    def save_obj(self, obj):
        instance = obj.object
        # Many-to-many changes would otherwise each write an unexplained "~" entry;
        # record_history writes one entry per record instead.
        instance.skip_history_when_saving = True
        try:
            saved = super().save_obj(obj)
        except (DatabaseError, IntegrityError, ValueError) as error:
            label = instance._meta.label
            key = instance.natural_key() if hasattr(instance, "natural_key") else None
            database_error = str(error.__cause__ or error).strip()
            detail = describe_violation(type(instance), str(error))
            error.args = (
                f"Could not load {label} {key!r} from the fixture: {detail + ' ' if detail else ''}"
                f"({database_error}). Nothing was loaded.",
            )
            raise
        if saved:
            self.loaded_instances.append(instance)
        return saved
