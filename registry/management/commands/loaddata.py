"""``loaddata`` that names the record a fixture fails on.

Django reports a failed row as ``registry.License(pk=None)``: with natural keys
every new row has no pk, so the operator cannot tell which record broke which
rule. This names it by natural key and adds the rule's own message. Loading
stays atomic: one bad record leaves the database unchanged.
"""

from django.core.management.base import CommandError
from django.core.management.commands.loaddata import Command as LoadDataCommand
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, IntegrityError


def describe_violation(model, error_text):
    """The violation message of every named constraint mentioned in the database error."""
    messages = []
    for constraint in model._meta.constraints:
        if constraint.name in error_text:
            messages.append(str(constraint.get_violation_error_message()).replace("%(name)s", constraint.name))
    return " ".join(messages)


class Command(LoadDataCommand):
    def handle(self, *fixture_labels, **options):
        # An operator needs the reason, not a traceback.
        try:
            return super().handle(*fixture_labels, **options)
        except (DatabaseError, DeserializationError, ValueError) as error:
            raise CommandError(str(error)) from error

    def save_obj(self, obj):
        instance = obj.object
        try:
            return super().save_obj(obj)
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
