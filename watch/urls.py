from django.urls import path

from watch import views

app_name = "watch"

urlpatterns = [
    path("watch/", views.SubscribeView.as_view(), name="subscribe"),
    path("watch/confirm/<str:token>/", views.ConfirmView.as_view(), name="confirm"),
    path("watch/unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
