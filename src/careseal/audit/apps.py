from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "careseal.audit"
    label = "careseal_audit"
    verbose_name = "Audit trail"
