from django.apps import AppConfig


class VerificationConfig(AppConfig):
    """Verify counterparties against the register: POST /api/verify/ and the /verify/ page (issue 16)."""

    name = "verification"
    verbose_name = "Verification API"

    def ready(self):
        # Registers the API key's description in the OpenAPI schema (drf-spectacular extensions register on import).
        from verification import schema  # noqa: F401
