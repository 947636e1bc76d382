"""Create the two staff roles as groups: curators edit, reviewers also publish and review.

Permissions are listed here, not imported from the app, so the migration keeps
meaning what it meant when it was written.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CURATED = [
    "entity",
    "entityalias",
    "regulator",
    "regime",
    "licensetype",
    "activity",
    "standard",
    "license",
    "audit",
    "source",
    "keyperson",
    "licensecitation",
    "auditcitation",
    "entitycitation",
    "keypersoncitation",
]

CURATOR_CODENAMES = [f"{action}_{model}" for model in CURATED for action in ("add", "change", "view")] + [
    "view_jurisdiction",
    "view_revision",
    "add_revision",
]
REVIEWER_CODENAMES = [*CURATOR_CODENAMES, *(f"delete_{model}" for model in CURATED), "review", "change_revision"]

ROLES = {"curators": CURATOR_CODENAMES, "reviewers": REVIEWER_CODENAMES}


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(content_type__app_label="registry", codename__in=codenames)
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for the {name} role: {sorted(missing)}")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
