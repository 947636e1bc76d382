"""How often one client may ask the public subscribe form to send a confirmation email.

Without a limit, anyone could make the register mail any address again and again. Counted per client address
(``operations.security.client_ip``, as the verification limit and the admin lockout read it) in Django's cache,
with Django REST framework's rate parser and window, as the verification API's limit is.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import throttling

from operations.security import client_ip


class SubscribeThrottle(throttling.SimpleRateThrottle):
    """``DJANGO_WATCH_SUBSCRIBE_THROTTLE`` confirmation emails per client address; None lifts the limit."""

    scope = "watch_subscribe"

    def get_rate(self):
        # Read at each request, not at import, so a settings change (or a test's) takes effect.
        return None

    def allow_request(self, request, view):
        self.rate = settings.WATCH_SUBSCRIBE_THROTTLE
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}
