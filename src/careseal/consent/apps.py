from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "careseal.consent"
    label = "careseal_consent"
    verbose_name = "Consent"
