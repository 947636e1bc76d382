from django.urls import path, re_path

from official import feeds, views

app_name = "official"

REGISTER = r"(?P<register>[a-z]+)"
FORMAT = r"(?P<format>csv|json)"

urlpatterns = [
    path("official/esma/", views.IndexView.as_view(), name="index"),
    path("official/esma/authorisations/", views.NewsView.as_view(), name="news"),
    re_path(rf"^official/esma/authorisations\.{FORMAT}$", views.NewsView.as_view(), name="news-export"),
    path("official/esma/authorisations.atom", feeds.AuthorisationsFeed(), name="feed"),
    re_path(rf"^official/esma/{REGISTER}/$", views.DiffView.as_view(), name="diff"),
    re_path(rf"^official/esma/{REGISTER}/changes\.{FORMAT}$", views.DiffView.as_view(), name="diff-export"),
    re_path(rf"^official/esma/{REGISTER}/(?P<date>[^/]+)/$", views.SnapshotView.as_view(), name="snapshot"),
    re_path(
        rf"^official/esma/{REGISTER}/(?P<date>[^/.]+)/changes\.{FORMAT}$",
        views.SnapshotView.as_view(),
        name="snapshot-export",
    ),
]
