from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "careseal.web"
    label = "careseal_web"
    verbose_name = "Web"
