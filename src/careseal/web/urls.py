from django.urls import path

from careseal.web import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
