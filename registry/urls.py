from django.urls import path

from . import views

app_name = "registry"

# List pages and their exports: owned by the list/filter/export work.
list_patterns = []

# Home, detail pages and source pages: owned by the pages work.
page_patterns = [
    path("", views.HomeView.as_view(), name="home"),
]

urlpatterns = page_patterns + list_patterns
