"""How often one client may ask the public subscribe form to send a confirmation email.

Without a limit, anyone could make the register mail any address again and again. Counted per client address
(``operations.security.client_ip``, as the verification limit and the admin lockout read it) in Django's cache,
with Django REST framework's rate parser and window, as the verification API's limit is.
"""

from __future__ import annotations

from django.conf import settings

from operations.security import ClientRateThrottle


class SubscribeThrottle(ClientRateThrottle):
    """``DJANGO_WATCH_SUBSCRIBE_THROTTLE`` confirmation emails per client address; None lifts the limit."""

    scope = "watch_subscribe"

    def current_rate(self, request):
        return settings.WATCH_SUBSCRIBE_THROTTLE
