"""The two staff roles, as Django groups: curators edit, reviewers also publish and review.

Migrations 0002 and 0003 created them with frozen copies of these lists. After
every ``migrate`` (and after a test run's flush, which empties auth tables
without re-running data migrations) :func:`ensure_roles` makes sure both groups
exist with at least these permissions; it never removes a permission an
operator granted by hand. So a permission added here reaches existing groups
on the next ``migrate``, without a migration of its own.

Besides the register (``registry``), staff see what the apps around it record
(:data:`OTHER_APPS`): the ESMA sync's fetch states and quarantined files and the
official register's snapshots and changes are written by the importer only, so
both roles only view them. Watchlist subscriptions (webhooks, often for an
API-key holder) are managed by reviewers: a subscription sends the register's
data to an outside address with a signing secret shown once, the kind of
trust reviewers already hold; curators view subscriptions, their watches and
the delivery log, to answer a subscriber's question. Events and deliveries are
written by the outbox and ``deliver_notifications``: view only for both.
"""

CURATED_MODELS = [
    "entity",
    "entityalias",
    "regulator",
    "regime",
    "licensetype",
    "activity",
    "standard",
    "license",
    "audit",
    "source",
    "keyperson",
    "licensecitation",
    "auditcitation",
    "entitycitation",
    "keypersoncitation",
    "warningnotice",
    # Issue 17: edited with their audit (or, accreditations, their entity); accreditation bodies as standards are.
    "auditstatuschange",
    "auditscopeitem",
    "auditfinding",
    "reservesnapshot",
    "accreditation",
    "accreditationbody",
]

CURATOR_CODENAMES = [
    *(f"{action}_{model}" for model in CURATED_MODELS for action in ("add", "change", "view")),
    "view_jurisdiction",
    "view_revision",
    "add_revision",
    "view_matchproposal",
]
REVIEWER_CODENAMES = [
    *CURATOR_CODENAMES,
    *(f"delete_{model}" for model in CURATED_MODELS),
    "review",
    "change_revision",
    "change_matchproposal",
]


# Other apps' permissions, as "app_label.codename".
OTHER_APPS_VIEWED = [
    "imports.view_registerfetch",
    "imports.view_quarantinedfile",
    "official.view_registersnapshot",
    "official.view_registerchange",
    *(f"watch.view_{model}" for model in ("subscription", "watch", "event", "delivery", "deliveryattempt")),
]
OTHER_APPS = {
    "curators": OTHER_APPS_VIEWED,
    "reviewers": [
        *OTHER_APPS_VIEWED,
        *(f"watch.{action}_{model}" for model in ("subscription", "watch") for action in ("add", "change", "delete")),
    ],
}

ROLES = {"curators": CURATOR_CODENAMES, "reviewers": REVIEWER_CODENAMES}


def ensure_roles(sender=None, using="default", **kwargs):
    """Create the role groups if missing and give them their permissions (a post_migrate receiver)."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        by_app = {"registry": list(codenames)}
        for qualified in OTHER_APPS[name]:
            app_label, codename = qualified.split(".")
            by_app.setdefault(app_label, []).append(codename)
        for app_label, names in by_app.items():
            permissions = Permission.objects.using(using).filter(content_type__app_label=app_label, codename__in=names)
            group.permissions.add(*permissions)
