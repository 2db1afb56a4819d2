from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "careseal.reports"
    label = "careseal_reports"
    verbose_name = "Reports"
