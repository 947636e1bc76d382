"""Who is asking, and how often they may: API keys and the rate limits of the verification API and page.

A client without a key is limited per address (the address the outermost trusted proxy saw, as the admin's
lockout reads it: ``operations.security.client_ip``) to ``DJANGO_VERIFY_THROTTLE``; a client sending a valid key
(``Authorization: Bearer crk_...``) to its key's own rate or ``DJANGO_VERIFY_KEY_THROTTLE``. Counts are kept
in Django's cache, which every worker shares (``DJANGO_CACHE_DIR``; per worker with ``memory``).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import authentication, exceptions

from operations.security import ClientRateThrottle
from verification.models import APIKey


class APIKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>``: ``request.auth`` is the :class:`APIKey`; no key, anonymous; a key that
    is unknown or revoked, 401 (a client should learn its key stopped working, not be slowed down silently)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send one key: Authorization: Bearer <key>.")
        key = APIKey.objects.for_key(header[1])
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return (None, key)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="verify"'


class VerifyThrottle(ClientRateThrottle):
    """The limit of the verification API and page: per address without a key, per key with one."""

    scope = "verify"

    def current_rate(self, request):
        key = getattr(request, "auth", None)
        if isinstance(key, APIKey):
            return key.rate or settings.VERIFY_KEY_THROTTLE
        return settings.VERIFY_THROTTLE

    def ident(self, request):
        key = getattr(request, "auth", None)
        return f"key-{key.pk}" if isinstance(key, APIKey) else super().ident(request)
