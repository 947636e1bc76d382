"""Staff manage webhook subscriptions here (a webhook may belong to an API-key holder) and read the delivery log.

A webhook's signing secret is shown once, on the page that answers its creation or its rotation. Email
subscriptions are created only by their owners' confirmation (double opt-in), never here.
"""

from django.contrib import admin, messages

from curation.forms import HttpsUrlsMixin
from curation.readonly import ReadOnlyAdmin
from operations.security import SecretOnCreationMixin
from watch.events import EVENT_KINDS
from watch.models import Channel, Delivery, DeliveryAttempt, Event, Subscription, SubscriptionStatus, Watch


class WatchInline(admin.TabularInline):
    model = Watch
    extra = 1
    autocomplete_fields = ("entity",)
    fields = ("entity", "jurisdiction", "record_type")


class AttemptInline(admin.TabularInline):
    """The subscription's delivery log, newest first."""

    model = DeliveryAttempt
    fk_name = "subscription"
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("at", "delivery", "number", "succeeded", "status_code", "error")
    readonly_fields = fields
    ordering = ("-at", "-pk")
    verbose_name_plural = "delivery log"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery__event")


@admin.register(Subscription)
class SubscriptionAdmin(SecretOnCreationMixin, HttpsUrlsMixin, admin.ModelAdmin):
    list_display = ("__str__", "channel", "status", "consecutive_failures", "api_key", "created_at")
    list_filter = ("channel", "status")
    search_fields = ("name", "url", "email")
    readonly_fields = ("channel", "email", "consecutive_failures", "created_at", "paused_at", "unsubscribed_at")
    inlines = (WatchInline, AttemptInline)
    actions = ("resume", "rotate_secret")
    shown_once_template = "admin/watch/subscription/secret.html"
    shown_once_title = "Webhook subscription created"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "url", "api_key")
        if obj.channel == Channel.EMAIL:
            return ("channel", "email", "status", "consecutive_failures", "created_at", "paused_at", "unsubscribed_at")
        return ("channel", "name", "url", "api_key", "status", "consecutive_failures", "created_at", "paused_at")

    def new_secret(self, request, obj):
        obj.channel = Channel.WEBHOOK  # staff create webhooks; email subscriptions come from their owners
        return obj.new_secret()

    # Actions change subscriptions: only for who may change them (curators view), not for every viewer.
    @admin.action(description="Resume the selected subscriptions (after fixing the receiver)", permissions=["change"])
    def resume(self, request, queryset):
        resumed = queryset.filter(status=SubscriptionStatus.PAUSED).update(
            status=SubscriptionStatus.ACTIVE, consecutive_failures=0, paused_at=None
        )
        self.message_user(
            request, f"{resumed} subscription(s) resumed: their waiting deliveries go out on the next run."
        )

    @admin.action(description="Give the selected webhook a new signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1 or queryset.get().channel != Channel.WEBHOOK:
            self.message_user(request, "Choose one webhook subscription to give a new secret.", messages.ERROR)
            return None
        subscription = queryset.get()
        secret = subscription.new_secret()
        subscription.save(update_fields=["secret"])
        return self.show_secret(request, subscription, secret, "New signing secret")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "kind_label", "entity", "dispatched_at")
    list_filter = ("kind", "record_type")
    search_fields = ("key", "entity__name")
    list_select_related = ("entity",)

    @admin.display(description="kind")
    def kind_label(self, event):
        return EVENT_KINDS[event.kind].label if event.kind in EVENT_KINDS else event.kind


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fk_name = "delivery"
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("number", "at", "succeeded", "status_code", "error")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "subscription", "status", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("status", "subscription__channel")
    search_fields = ("idempotency_key", "subscription__name", "subscription__url", "subscription__email")
    list_select_related = ("event__entity", "subscription")
    inlines = (DeliveryAttemptInline,)
