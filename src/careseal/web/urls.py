from django.urls import include, path

from careseal.web import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("careseal.portal.urls")),
]
