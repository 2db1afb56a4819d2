from django.conf import settings
from django.http import HttpRequest


def practice(request: HttpRequest) -> dict[str, str]:
    """Add the practice's display name to every template."""
    return {"practice_name": settings.CARESEAL.practice.name}
