"""Hardening that is not a setting: response headers, a read-only public site, the admin's second factor.

See docs/operations.md ("Security") for what each piece defends against.
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django.http import HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from rest_framework import throttling

# The register needs none of these browser features; denying them means an injected script cannot use them either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class PermissionsPolicyMiddleware:
    """Adds ``Permissions-Policy`` to every response (Django has no setting for it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def admin_prefix():
    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return None


class ReadOnlyPublicSiteMiddleware:
    """Answers 405 to any write method outside the admin, before a view runs.

    No public view writes, but a view that forgot to restrict its methods (a syndication feed
    answers POST like GET) would be one edit away from doing so; this makes the rule structural.
    The JSON API is left to Django REST framework, whose read-only views already answer 405
    with the API's own JSON error body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in SAFE_METHODS:
            prefix = admin_prefix()
            if not (prefix and request.path.startswith(prefix)) and not request.path.startswith("/api/"):
                if not (request.method == "POST" and accepts_public_post_at(request)):
                    return HttpResponseNotAllowed(SAFE_METHODS)
        return self.get_response(request)


def accepts_public_post_at(request) -> bool:
    """Whether the view at this address declares ``accepts_public_post``: it takes a public POST on purpose, under
    CSRF protection: a question too long for an address that writes nothing (verification/views.py), or a
    subscriber's own consent, confirming or withdrawing an email subscription by its signed link (watch/views.py)."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return getattr(getattr(match.func, "view_class", None), "accepts_public_post", False) is True


def client_ip(request):
    """The client's address for login throttling (django-axes).

    Behind ``DJANGO_TRUSTED_PROXIES`` reverse proxies, each appends the address it saw to
    ``X-Forwarded-For``; the entry that many places from the end was written by our outermost
    proxy, so a client cannot forge it (anything left of it is the client's own claim).
    """
    proxies = getattr(settings, "TRUSTED_PROXIES", 0)
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


class ClientRateThrottle(throttling.SimpleRateThrottle):
    """A rate limit with Django REST framework's parser and window, counted in Django's cache per client
    (:func:`client_ip`, unless :meth:`ident` says otherwise). Its rate (:meth:`current_rate`) is read at each
    request, not at import, so a settings change (or a test's) takes effect; none lifts the limit."""

    def get_rate(self):
        return None

    def current_rate(self, request) -> str | None:
        raise NotImplementedError

    def ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view):
        self.rate = self.current_rate(request)
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request)}


class SecretOnCreationMixin:
    """A model admin whose new records come with a secret (an API key, a webhook's signing secret): the secret is
    kept on the request only, for the page that answers the creation (:meth:`show_secret`), never logged."""

    shown_once_template = ""
    shown_once_title = ""
    shown_once_as = "secret"  # what the template calls it

    def new_secret(self, request, obj) -> str:
        """Give the new ``obj`` its secret (not saved yet) and return it."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if not change:
            request._new_secret = self.new_secret(request, obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        return self.show_secret(request, obj, request._new_secret)

    def show_secret(self, request, obj, secret: str, title: str = "") -> TemplateResponse:
        """The page that shows ``obj``'s new secret: the only time it is shown, so no cache may keep it."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title or self.shown_once_title,
            "record": obj,
            self.shown_once_as: secret,
        }
        response = TemplateResponse(request, self.shown_once_template, context)
        response["Cache-Control"] = "no-store"
        return response


class OneDeviceOTPAuthenticationForm(OTPAdminAuthenticationForm):
    """django-otp's admin login form, choosing the device itself when the account has exactly one.

    django-otp makes the user pick a device from a list shown only after a first, failed submission
    (so that a code is never tried against every device in turn). Staff here enrol one authenticator
    each, so username, password and code go in one submission.
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device


def admin_requires_2fa():
    return getattr(settings, "ADMIN_REQUIRE_2FA", False)


class RegistryAdminSite(OTPAdminSite):
    """The admin site, asking staff for a TOTP code when ``DJANGO_ADMIN_REQUIRE_2FA`` is on.

    Installed by replacing the class of ``admin.site`` (config/urls.py), so every ModelAdmin
    already registered stays registered. The setting is read per request, not at import time.
    """

    def has_permission(self, request):
        if admin_requires_2fa():
            # OTPAdminSite: active staff *and* verified by a one-time password in this session.
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)

    @property
    def login_form(self):
        return OneDeviceOTPAuthenticationForm if admin_requires_2fa() else AdminAuthenticationForm

    @property
    def login_template(self):
        return "otp/admin111/login.html" if admin_requires_2fa() else None
