from django.conf import settings
from django.http import HttpRequest


def practice(request: HttpRequest) -> dict[str, str]:
    """Add the practice's display name to every template."""
    from careseal.portal.accounts import PasswordSignInForm

    return {"practice_name": settings.CARESEAL.practice.name,
            "contact_enabled": bool(settings.CARESEAL.contact.departments),
            "password_form_blank": PasswordSignInForm(auto_id="id_pw_%s")}
