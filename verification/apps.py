from django.apps import AppConfig


class VerificationConfig(AppConfig):
    """Verify counterparties against the register: POST /api/verify/ and the /verify/ page (issue 16)."""

    name = "verification"
    verbose_name = "Verification API"
