from django.urls import include, path

from careseal.web import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("careseal.portal.urls")),
]
