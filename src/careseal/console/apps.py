from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "careseal.console"
    label = "careseal_console"
    verbose_name = "Staff console"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from careseal.console.roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
