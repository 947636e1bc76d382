"""Public pages. Every query starts from a model's ``published()``."""

from django.views.generic import TemplateView


class HomeView(TemplateView):
    template_name = "registry/home.html"
