"""The two staff roles, as Django groups: curators edit, reviewers also publish and review.

Migrations 0002 and 0003 created them with frozen copies of these lists. After
every ``migrate`` (and after a test run's flush, which empties auth tables
without re-running data migrations) :func:`ensure_roles` makes sure both groups
exist with at least these permissions; it never removes a permission an
operator granted by hand.
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

ROLES = {"curators": CURATOR_CODENAMES, "reviewers": REVIEWER_CODENAMES}


def ensure_roles(sender=None, using="default", **kwargs):
    """Create the role groups if missing and give them their permissions (a post_migrate receiver)."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        permissions = Permission.objects.using(using).filter(content_type__app_label="registry", codename__in=codenames)
        group.permissions.add(*permissions)
