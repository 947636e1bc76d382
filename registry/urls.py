from django.urls import path

from . import views

app_name = "registry"

# List pages and their exports: owned by the list/filter/export work.
list_patterns = []

# Home, detail pages and source pages: owned by the pages work.
page_patterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("entities/<slug:slug>/", views.EntityDetailView.as_view(), name="entity-detail"),
    path("regulators/<slug:slug>/", views.RegulatorDetailView.as_view(), name="regulator-detail"),
    path("regimes/<slug:slug>/", views.RegimeDetailView.as_view(), name="regime-detail"),
    path("licenses/<slug:slug>/", views.LicenseDetailView.as_view(), name="license-detail"),
    path("audits/<slug:slug>/", views.AuditDetailView.as_view(), name="audit-detail"),
    path("sources/<slug:slug>/", views.SourceDetailView.as_view(), name="source-detail"),
]

urlpatterns = page_patterns + list_patterns
