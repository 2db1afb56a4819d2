from django.urls import include, path

from careseal.console.admin import site as console_site
from careseal.console.urls import static_patterns as console_static
from careseal.web import metrics, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("console/", include("careseal.console.urls")),
    path("console/admin/", console_site.urls),
    *console_static,
    path("", include("careseal.portal.urls")),
]
