from django.apps import AppConfig


class QueueConfig(AppConfig):
    name = "careseal.queue"
    label = "careseal_queue"
    verbose_name = "Mail queue"
