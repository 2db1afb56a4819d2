from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "careseal.escrow"
    label = "careseal_escrow"
    verbose_name = "Escrow"
