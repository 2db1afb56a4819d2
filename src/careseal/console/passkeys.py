"""Passkeys (WebAuthn) as a staff member's second factor, in place of a TOTP code.

A staff member adds passkeys once fully signed in. At the next sign-in,
after the password, the second-factor page offers them beside the code.
Unlike the portal's, these credentials need not be discoverable: the
password step has already named the account, so its credentials are listed
in the request. Failures count toward the same lockout as wrong codes.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from careseal.audit import trail as audit
from careseal.console.auth import SESSION_PENDING, SESSION_VERIFIED, lock_key, pending_user
from careseal.console.models import StaffPasskey
from careseal.portal import identity
from careseal.portal.passkeys import MAX_BODY, relying_party

log = logging.getLogger("careseal.console")

REGISTRATION_CHALLENGE = "console_passkey_registration"
AUTHENTICATION_CHALLENGE = "console_passkey_authentication"


def _signed_in(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_staff and request.session.get(SESSION_VERIFIED))


@require_GET
def passkey_page(request: HttpRequest) -> HttpResponse:
    if not _signed_in(request):
        return redirect("console:sign_in")
    count = StaffPasskey.objects.filter(user=request.user).count()
    return render(request, "console/passkeys.html", {"count": count})


@require_POST
def registration_options(request: HttpRequest) -> HttpResponse:
    if not _signed_in(request):
        return JsonResponse({"error": "sign in first"}, status=403)
    user = request.user
    rp_id, _ = relying_party()
    existing = _descriptors(user)
    options = generate_registration_options(
        rp_id=rp_id, rp_name=f"CareSeal {settings.CARESEAL.hostname}", user_name=user.get_username(),
        user_display_name=user.get_username(), user_id=secrets.token_bytes(16), exclude_credentials=existing,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED))
    request.session[REGISTRATION_CHALLENGE] = options.challenge.hex()
    return HttpResponse(options_to_json(options), content_type="application/json")


@require_POST
def register(request: HttpRequest) -> HttpResponse:
    if not _signed_in(request):
        return JsonResponse({"error": "sign in first"}, status=403)
    challenge = request.session.pop(REGISTRATION_CHALLENGE, "")
    rp_id, origin = relying_party()
    if not challenge or len(request.body) > MAX_BODY:
        return JsonResponse({"error": "start the registration again"}, status=400)
    try:
        result = verify_registration_response(credential=request.body.decode("utf-8"),
                                              expected_challenge=bytes.fromhex(challenge), expected_rp_id=rp_id,
                                              expected_origin=origin, require_user_verification=True)
    except (WebAuthnException, ValueError, UnicodeDecodeError) as error:
        log.warning("console passkey registration rejected user_id=%d error=%s", request.user.pk,
                    type(error).__name__)
        return JsonResponse({"error": "the passkey could not be verified"}, status=400)
    try:
        with transaction.atomic():
            StaffPasskey.objects.create(user=request.user, credential_id=result.credential_id,
                                        public_key=result.credential_public_key, sign_count=result.sign_count)
    except IntegrityError:
        return JsonResponse({"error": "this passkey is already registered"}, status=400)
    audit.record("console.passkey_registered", actor=f"staff:{request.user.pk}")
    log.info("console passkey registered user_id=%d", request.user.pk)
    return JsonResponse({"ok": True})


def _descriptors(user: Any) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=bytes(passkey.credential_id))
            for passkey in StaffPasskey.objects.filter(user=user)]


@require_POST
def authentication_options(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        return JsonResponse({"error": "enter your password first"}, status=403)
    allowed = _descriptors(user)
    if not allowed:
        return JsonResponse({"error": "this account has no passkey"}, status=400)
    rp_id, _ = relying_party()
    options = generate_authentication_options(rp_id=rp_id, allow_credentials=allowed,
                                              user_verification=UserVerificationRequirement.REQUIRED)
    request.session[AUTHENTICATION_CHALLENGE] = options.challenge.hex()
    return HttpResponse(options_to_json(options), content_type="application/json")


@require_POST
def authenticate(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        return JsonResponse({"error": "enter your password first"}, status=403)
    username = user.get_username()
    if identity.is_locked(lock_key(username)):
        return JsonResponse({"error": "too many failed sign-ins; wait an hour or ask an administrator"}, status=429)

    challenge = request.session.pop(AUTHENTICATION_CHALLENGE, "")
    rp_id, origin = relying_party()
    if not challenge or len(request.body) > MAX_BODY:
        return JsonResponse({"error": "start the sign-in again"}, status=400)
    try:
        credential = json.loads(request.body)
        credential_id = base64url_to_bytes(credential["rawId"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "malformed passkey response"}, status=400)

    passkey = StaffPasskey.objects.filter(credential_id=credential_id, user=user).first()
    try:
        if passkey is None:
            raise WebAuthnException("credential not registered to this account")
        result = verify_authentication_response(
            credential=credential, expected_challenge=bytes.fromhex(challenge), expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError) as error:
        identity.record_failure(lock_key(username))
        audit.record("console.sign_in_failed", actor=f"staff:{user.pk}",
                     data={"step": "passkey"})
        log.warning("console passkey sign-in rejected user_id=%d error=%s", user.pk,
                    type(error).__name__)
        return JsonResponse({"error": "the passkey could not be verified"}, status=400)

    # Compare-and-set on the last use, so one assertion sent twice at once opens one session only.
    if not StaffPasskey.objects.filter(pk=passkey.pk, last_used_at=passkey.last_used_at).update(
            sign_count=result.new_sign_count, last_used_at=timezone.now()):
        return JsonResponse({"error": "start the sign-in again"}, status=400)
    request.session.pop(SESSION_PENDING, None)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_VERIFIED] = True
    audit.record("console.sign_in", actor=f"staff:{user.pk}", data={"method": "passkey"})
    log.info("console sign-in user_id=%d method=passkey", user.pk)
    return JsonResponse({"redirect": reverse("console_admin:index")})
