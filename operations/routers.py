"""Read replicas: with ``DATABASE_REPLICA_URL`` set, public reads go to the replica, everything else to the primary.

``config/settings.py`` adds the ``replica`` database, :class:`ReplicaRouter`
and :class:`ReplicaRoutingMiddleware` only when the variable is set; without
it nothing here is installed and every query goes to ``default``.

The rule, per query:

* writes always go to the primary;
* reads go to the replica only while a public, safe request (GET or HEAD,
  outside the admin) is being answered, and only until that request writes
  (it then reads its own writes) or opens a transaction on the primary;
* every other read is the primary's: the admin (a curator must see the edit
  they just saved, not a lagging copy), POSTs, management commands, the shell;
* related objects are read from the database their instance came from.

A replica lags its primary by a little; the public pages can afford that (a
CDN already serves them up to a minute old), the admin cannot.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.signals import request_finished
from django.db import connections

PRIMARY = "default"
REPLICA = "replica"


@dataclass
class _State:
    public: bool
    wrote: bool = False


_state: contextvars.ContextVar[_State | None] = contextvars.ContextVar("registry_db_routing", default=None)


def _reset(**kwargs):
    _state.set(None)


# A streamed export is read after the middleware has returned: the request's state lasts until the response closes.
request_finished.connect(_reset, dispatch_uid="operations.routers.reset")


@contextmanager
def routing(public: bool):
    """Route the queries inside as those of a public (``True``) or a private request."""
    token = _state.set(_State(public=public))
    try:
        yield
    finally:
        _state.reset(token)


def use_primary():
    """Every read inside goes to the primary (e.g. a public view that must see what it just wrote)."""
    return routing(public=False)


class ReplicaRouter:
    primary = PRIMARY
    replica = REPLICA

    def _replica_allowed(self) -> bool:
        state = _state.get()
        if state is None or not state.public or state.wrote:
            return False
        if self.replica not in connections.settings:
            return False
        # Inside a transaction on the primary, reads belong with it (they may depend on its uncommitted writes).
        return not connections[self.primary].in_atomic_block

    def db_for_read(self, model, **hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db in (self.primary, self.replica):
            return instance._state.db
        return self.replica if self._replica_allowed() else self.primary

    def db_for_write(self, model, **hints):
        state = _state.get()
        if state is not None:
            state.wrote = True
        return self.primary

    def allow_relation(self, obj1, obj2, **hints):
        # The replica is a copy of the primary: an object from either may point at one from the other.
        databases = {self.primary, self.replica}
        if obj1._state.db in databases and obj2._state.db in databases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica receives the schema from the primary by replication, never by migrate.
        if db == self.replica:
            return False
        return None


class ReplicaRoutingMiddleware:
    """Marks each request public (GET or HEAD outside the admin) or private, for :class:`ReplicaRouter`.

    Goes first in ``MIDDLEWARE``, so the conditional GET's version check reads
    from the same database as the page it labels.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from operations.conditional_get import is_admin

        public = request.method in ("GET", "HEAD") and not is_admin(request)
        _state.set(_State(public=public))
        return self.get_response(request)
