from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "careseal.replies"
    label = "careseal_replies"
    verbose_name = "Replies"
