from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "careseal.portal"
    label = "careseal_portal"
    verbose_name = "Patient portal"
