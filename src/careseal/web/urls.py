from django.urls import include, path

from careseal.web import metrics, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("", include("careseal.portal.urls")),
]
