from django.urls import path

from verification import api, views

app_name = "verification"

urlpatterns = [
    path("api/verify/", api.VerifyView.as_view(), name="api-verify"),
    path("verify/", views.VerifyPageView.as_view(), name="verify"),
]
