from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Compliance Registry"

    def ready(self):
        from curation.roles import ensure_roles

        # After auth's own post_migrate handler has created the permissions.
        post_migrate.connect(ensure_roles, dispatch_uid="registry.ensure_roles")
