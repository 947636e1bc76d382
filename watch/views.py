"""Public pages of the email subscriptions: subscribe, confirm (double opt-in), unsubscribe (URL namespace ``watch:``).

Subscribing stores nothing: the confirmation email's link carries the address and what to watch, signed
(django.core.signing), and the subscription is created only when the link is confirmed, so nothing is ever
sent to an address that did not ask. A link works once (its nonce is kept with the subscription it created).
Every notification email carries a one-click unsubscribe link (and ``List-Unsubscribe``).

The public site answers POST only where a view declares it (operations/security.py): these do, and write only
a confirmed subscription or an unsubscription, each authorised by a signed link.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from registry.models import Entity, Jurisdiction
from watch import signing as watch_signing
from watch.delivery import absolute
from watch.forms import CODE, SLUG, SubscribeForm, describe
from watch.models import Channel, Subscription, SubscriptionStatus, Watch
from watch.throttling import SubscribeThrottle

BAD_LINK = (
    "This link is not valid: it may have been cut short or changed on the way. Copy the whole link from the email, "
    "or subscribe again."
)
EXPIRED_LINK = "This confirmation link has expired (links last seven days). Subscribe again to get a new one."


def message(request, title, text, status=200):
    return render(request, "watch/message.html", {"title": title, "text": text}, status=status)


class SubscribeView(View):
    # A POST here sends a confirmation email and stores nothing (see the module docstring).
    accepts_public_post = True

    def get(self, request):
        initial, note = {}, ""
        if request.GET.get("entity"):
            slug = request.GET["entity"].lower()
            entity = Entity.objects.published().filter(slug=slug).first() if SLUG.fullmatch(slug) else None
            if entity:
                initial = {"what": "entity", "entity": entity.name}
            else:
                note = "No published entity has that address: name the entity below."
        elif request.GET.get("jurisdiction"):
            code = request.GET["jurisdiction"].upper()
            if CODE.fullmatch(code) and Jurisdiction.objects.filter(code=code).exclude(kind="subdivision").exists():
                initial = {"what": "jurisdiction", "jurisdiction": code}
            else:
                note = "No jurisdiction has that code: choose one below."
        elif request.GET.get("record_type"):
            initial = {"what": "record_type", "record_type": request.GET["record_type"][:20]}
        return render(request, "watch/subscribe.html", {"form": SubscribeForm(initial=initial), "note": note})

    def post(self, request):
        form = SubscribeForm(request.POST)
        if not form.is_valid():
            return render(request, "watch/subscribe.html", {"form": form}, status=400)
        throttle = SubscribeThrottle()
        if not throttle.allow_request(request, self):
            wait = math.ceil(throttle.wait() or 1)
            minutes = math.ceil(wait / 60)
            later = ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
            response = message(
                request,
                "Too many requests",
                f"This address has asked for too many confirmation emails. Try again in {later}.",
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        email, target = form.cleaned_data["email"], form.cleaned_data["target"]
        token = watch_signing.confirm_token(email, target)
        link = absolute(reverse("watch:confirm", kwargs={"token": token}))
        context = {"link": link, "what": describe(target), "days": settings.WATCH_CONFIRM_MAX_AGE.days}
        EmailMessage(
            subject="Confirm your Compliance Registry alerts",
            body=render_to_string("watch/email/confirm.txt", context),
            to=[email],
        ).send()
        return message(
            request,
            "Check your inbox",
            f"We sent a confirmation link to {email}. Nothing will be sent until you follow it.",
        )


def _confirmation(token):
    """``(data, error message)`` of a confirmation token."""
    try:
        return watch_signing.read_confirm_token(token), ""
    except signing.SignatureExpired:
        return None, EXPIRED_LINK
    except signing.BadSignature:
        return None, BAD_LINK


class ConfirmView(View):
    # Writes only the subscription the signed link asks for, once.
    accepts_public_post = True

    def get(self, request, token):
        data, error = _confirmation(token)
        if error:
            return message(request, "Link not valid", error, status=400)
        if Subscription.objects.filter(confirm_nonce=data["n"]).exists():
            return message(request, "Already confirmed", "This link was used already: the subscription exists.")
        what = describe(tuple(data["t"]))
        if not what:
            return message(request, "Link not valid", "What this link watches is no longer published.", status=400)
        return render(request, "watch/confirm.html", {"email": data["e"], "what": what, "token": token})

    def post(self, request, token):
        data, error = _confirmation(token)
        if error:
            return message(request, "Link not valid", error, status=400)
        target = _target(tuple(data["t"]))
        if target is None:
            return message(request, "Link not valid", "What this link watches is no longer published.", status=400)
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    channel=Channel.EMAIL, email=data["e"], confirm_nonce=data["n"]
                )
                Watch.objects.create(subscription=subscription, **target)
        except IntegrityError:
            return message(request, "Already confirmed", "This link was used already: the subscription exists.")
        return message(
            request,
            "Subscribed",
            f"{data['e']} will get an email when {describe(tuple(data['t']))} change on the register. Every email has "
            "a link to unsubscribe.",
        )


def _target(target) -> dict | None:
    """A target as :class:`~watch.models.Watch` fields, or None when it names nothing published now."""
    what, value = target
    if what == "entity":
        entity = Entity.objects.published().filter(slug=value).first()
        return {"entity": entity} if entity else None
    if what == "jurisdiction":
        jurisdiction = Jurisdiction.objects.filter(code=value).first()
        return {"jurisdiction": jurisdiction} if jurisdiction else None
    return {"record_type": value} if describe(target) else None


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """One click: following the link unsubscribes (GET), and so does a mail client's one-click POST (RFC 8058).

    No CSRF token: the signed link is the authority, and a mail client's POST cannot carry one.
    """

    accepts_public_post = True

    def get(self, request, token):
        return self.unsubscribe(request, token)

    def post(self, request, token):
        return self.unsubscribe(request, token)

    def unsubscribe(self, request, token):
        try:
            subscription_token = watch_signing.read_unsubscribe_token(token)
        except signing.BadSignature:
            return message(request, "Link not valid", BAD_LINK, status=400)
        subscription = Subscription.objects.filter(token=subscription_token).first()
        if subscription is None:
            return message(request, "Unsubscribed", "This subscription no longer exists: nothing more will be sent.")
        if subscription.status != SubscriptionStatus.UNSUBSCRIBED:
            Subscription.objects.filter(pk=subscription.pk).update(
                status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=timezone.now()
            )
        return message(request, "Unsubscribed", "You are unsubscribed: nothing more will be sent to this address.")
