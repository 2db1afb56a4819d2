from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "careseal.rules"
    label = "careseal_rules"
    verbose_name = "Policy rules"
