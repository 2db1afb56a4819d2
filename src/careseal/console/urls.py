from pathlib import Path

import django.contrib.admin
from django.urls import path
from django.views.static import serve

from careseal.console import auth, passkeys, reports

app_name = "console"

ADMIN_STATIC = Path(django.contrib.admin.__file__).resolve().parent / "static" / "admin"

urlpatterns = [
    path("sign-in", auth.sign_in, name="sign_in"),
    path("second-factor", auth.second_factor, name="second_factor"),
    path("sign-out", auth.sign_out, name="sign_out"),
    path("passkeys", passkeys.passkey_page, name="passkeys"),
    path("passkeys/registration-options", passkeys.registration_options, name="passkey_registration_options"),
    path("passkeys/register", passkeys.register, name="passkey_register"),
    path("passkeys/authentication-options", passkeys.authentication_options,
         name="passkey_authentication_options"),
    path("passkeys/authenticate", passkeys.authenticate, name="passkey_authenticate"),
    path("risk-report", reports.risk_report, name="risk_report"),
    path("consent-form/<int:consent_id>", reports.consent_form, name="consent_form"),
]

# NOTE: Django's static view serves the admin's own CSS and JavaScript; a
# reverse proxy in front may serve the same folder itself for speed.
static_patterns = [path("static/admin/<path:path>", serve, {"document_root": str(ADMIN_STATIC)})]
