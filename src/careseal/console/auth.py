"""Staff sign-in: password first, then a TOTP code; enrollment on the first sign-in.

The session is marked as fully signed in only after the second factor, and
the console's admin site refuses sessions without that mark. Wrong
passwords and codes count toward a per-account lockout.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pyotp
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_http_methods, require_POST

from careseal.audit import trail as audit
from careseal.console.models import StaffTOTP
from careseal.portal import identity
from careseal.vault.secretbox import SealError

log = logging.getLogger("careseal.console")

SESSION_PENDING = "console_pending_user"
# Seconds between the password step and the second factor, after which the password is asked again.
PENDING_LIFETIME = 300
SESSION_VERIFIED = "console_2fa"


class PasswordForm(forms.Form):
    username = forms.CharField(label="Email address", max_length=254,
                               widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label="Password", max_length=256,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(label="6-digit code from your authenticator app", max_length=8,
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}))


def lock_key(username: str) -> str:
    return f"staff:{username.strip().lower()}"


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = PasswordForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "console/sign_in.html", {"form": form}, status=400 if request.method == "POST" else 200)
    username = form.cleaned_data["username"].strip().lower()
    if identity.is_locked(lock_key(username)):
        return render(request, "console/sign_in.html", {"form": form, "error": "locked"}, status=429)
    user = authenticate(request, username=username, password=form.cleaned_data["password"])
    if user is None or not user.is_staff:
        identity.record_failure(lock_key(username))
        audit.record("console.sign_in_failed", actor="staff:unknown", data={"step": "password"})
        return render(request, "console/sign_in.html", {"form": form, "error": "wrong"}, status=400)
    request.session.cycle_key()
    request.session[SESSION_PENDING] = {"id": user.pk, "hash": user.get_session_auth_hash(), "at": time.time()}
    return redirect("console:second_factor")


def pending_user(request: HttpRequest) -> Any:
    """Return the account whose password step this session passed, or None.

    The step counts for :data:`PENDING_LIFETIME` seconds, and only while the
    password is unchanged: an intruder's half-finished sign-in ends when
    the password is changed, even if the session is kept alive.
    """
    pending = request.session.get(SESSION_PENDING)
    if not isinstance(pending, dict):
        return None
    user = get_user_model().objects.filter(pk=pending.get("id"), is_active=True, is_staff=True).first()
    fresh = time.time() - float(pending.get("at", 0)) <= PENDING_LIFETIME
    if user is None or not fresh or not constant_time_compare(str(pending.get("hash", "")),
                                                                 user.get_session_auth_hash()):
        request.session.pop(SESSION_PENDING, None)
        return None
    return user


@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        return redirect("console:sign_in")
    totp, _ = StaffTOTP.objects.get_or_create(user=user, defaults={"secret": pyotp.random_base32()})
    form = CodeForm(request.POST or None)
    try:
        secret = totp.secret
    except SealError:
        log.error("console second factor cannot be opened user_id=%d: the instance secret changed or the row "
                  "was altered; reset it with 'careseal staff reset-second-factor'", user.pk)
        # A passkey still works, so it stays on offer.
        return render(request, "console/second_factor.html",
                      {"form": form, "error": "unreadable", "has_passkey": user.passkeys.exists()}, status=500)
    context = {"form": form, "enrolling": not totp.confirmed,
               "has_passkey": totp.confirmed and user.passkeys.exists()}
    if not totp.confirmed:
        context["secret"] = secret
        context["uri"] = pyotp.TOTP(secret).provisioning_uri(name=user.get_username(),
                                                              issuer_name=f"CareSeal {settings.CARESEAL.hostname}")
    if request.method != "POST" or not form.is_valid():
        return render(request, "console/second_factor.html", context, status=400 if request.method == "POST" else 200)
    if identity.is_locked(lock_key(user.get_username())):
        context["error"] = "locked"
        return render(request, "console/second_factor.html", context, status=429)
    if not _accept_code(totp, secret, form.cleaned_data["code"]):
        identity.record_failure(lock_key(user.get_username()))
        audit.record("console.sign_in_failed", actor=f"staff:{user.pk}", data={"step": "totp"})
        context["error"] = "wrong"
        return render(request, "console/second_factor.html", context, status=400)

    request.session.pop(SESSION_PENDING, None)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_VERIFIED] = True
    audit.record("console.sign_in", actor=f"staff:{user.pk}", data={"enrolled_now": bool(context["enrolling"])})
    log.info("console sign-in user_id=%d", user.pk)
    return redirect("console_admin:index")


def _accept_code(totp: StaffTOTP, secret: str, code: str) -> bool:
    """Accept a code for the current or the neighbouring 30-second step, each step at most once."""
    cleaned = "".join(ch for ch in code if ch.isdigit())
    generator = pyotp.TOTP(secret)
    now_step = int(time.time()) // generator.interval
    with transaction.atomic():
        locked = StaffTOTP.objects.select_for_update().get(pk=totp.pk)
        for step in (now_step - 1, now_step, now_step + 1):
            if step > locked.last_step and pyotp.utils.strings_equal(generator.generate_otp(step), cleaned):
                locked.last_step = step
                locked.confirmed = True
                locked.save(update_fields=["last_step", "confirmed"])
                return True
    return False


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("console:sign_in")
