from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "careseal.accounts"
    label = "careseal_accounts"
    verbose_name = "Staff accounts"
