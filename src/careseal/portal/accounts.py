"""Passwords for returning patients, as a faster alternative to a mailed one-time code.

A patient sets a password only after proving the mailbox with a code, so
the password can never be set for someone else's address. Wrong passwords
count toward the same per-address lockout as wrong codes.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    MinimumLengthValidator,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from careseal.audit import trail as audit
from careseal.portal import identity
from careseal.portal.forms import AddressForm
from careseal.portal.models import PatientAccount
from careseal.portal.views import finish_sign_in, verified
from careseal.queue.vault import loggable

log = logging.getLogger("careseal.portal")

PATIENT_PASSWORD_VALIDATORS = [MinimumLengthValidator(8), CommonPasswordValidator()]

# Checked against when an address has no account, so a wrong address and a
# wrong password take the same time.
_DUMMY_HASH = make_password("careseal-no-account")


class PasswordSignInForm(AddressForm):
    password = forms.CharField(label=_("Password"), max_length=256,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class SetPasswordForm(forms.Form):
    password = forms.CharField(label=_("New password (at least 8 characters)"), max_length=256,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    confirm = forms.CharField(label=_("Repeat the password"), max_length=256,
                              widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, str]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("confirm"):
            raise ValidationError(_("The two passwords differ."))
        if data.get("password"):
            try:
                validate_password(data["password"], password_validators=PATIENT_PASSWORD_VALIDATORS)
            except ValidationError as error:
                self.add_error("password", error)
        return data


@require_POST
def password_sign_in(request: HttpRequest) -> HttpResponse:
    form = PasswordSignInForm(request.POST, auto_id="id_pw_%s")
    context = {"form": AddressForm(), "password_form": form}
    if not form.is_valid():
        return render(request, "portal/home.html", context, status=400)
    address = form.cleaned_data["address"].lower()
    if identity.is_locked(address):
        context["sign_in_error"] = "locked"
        return render(request, "portal/home.html", context, status=429)
    account = PatientAccount.objects.filter(address=address).first()
    stored = account.password if account else _DUMMY_HASH
    if not check_password(form.cleaned_data["password"], stored) or account is None:
        context["sign_in_error"] = "locked" if identity.record_failure(address) else "wrong"
        log.warning("password sign-in failed address=%s", loggable(address))
        status = 429 if context["sign_in_error"] == "locked" else 400
        return render(request, "portal/home.html", context, status=status)
    request.session.cycle_key()
    request.session["address"] = address
    audit.record("portal.sign_in", actor=identity.patient_actor(address), data={"method": "password"})
    log.info("portal sign-in address=%s method=password", loggable(address))
    return finish_sign_in(request, address, None)


@require_http_methods(["GET", "POST"])
@verified
def set_password(request: HttpRequest) -> HttpResponse:
    form = SetPasswordForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "portal/set_password.html", {"form": form},
                      status=400 if request.method == "POST" else 200)
    address = request.session["address"]
    PatientAccount.objects.update_or_create(address=address,
                                            defaults={"password": make_password(form.cleaned_data["password"])})
    audit.record("portal.password_set", actor=identity.patient_actor(address))
    log.info("patient password set address=%s", loggable(address))
    return redirect("/messages/?password=1")
