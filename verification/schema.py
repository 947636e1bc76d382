"""How the OpenAPI schema describes the verification API's key (drf-spectacular finds it when this is imported)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "verification.throttling.APIKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Optional. A key issued by the register's staff raises the rate limit: "
            "Authorization: Bearer <key>.",
        }
