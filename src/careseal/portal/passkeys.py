"""Passkeys (WebAuthn) for returning patients: register after a mailbox check, sign in without a code.

The relying party is the host of ``public_url``; browsers allow WebAuthn
only on HTTPS origins and on localhost. Credentials are discoverable, so
sign-in needs no address: the credential id names the patient. The only
JavaScript in the portal lives in passkeys.js, because WebAuthn has no
form-based interface.
"""

from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
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
from careseal.portal import identity
from careseal.portal.models import PatientPasskey
from careseal.portal.views import verified
from careseal.queue.vault import loggable

log = logging.getLogger("careseal.portal")

MAX_BODY = 64 * 1024


def relying_party() -> tuple[str, str]:
    """Return the relying party id (host of public_url) and the expected origin."""
    parts = urlsplit(settings.CARESEAL.public_url)
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc}"


@require_GET
@verified
def passkey_page(request: HttpRequest) -> HttpResponse:
    count = PatientPasskey.objects.filter(address=request.session["address"]).count()
    return render(request, "portal/passkeys.html", {"count": count})


@require_POST
@verified
def registration_options(request: HttpRequest) -> HttpResponse:
    address = request.session["address"]
    rp_id, _ = relying_party()
    existing = [PublicKeyCredentialDescriptor(id=bytes(p.credential_id))
                for p in PatientPasskey.objects.filter(address=address)]
    options = generate_registration_options(
        rp_id=rp_id, rp_name=settings.CARESEAL.practice.name, user_name=address, user_display_name=address,
        user_id=secrets.token_bytes(16), exclude_credentials=existing,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED))
    request.session["passkey_registration_challenge"] = options.challenge.hex()
    return HttpResponse(options_to_json(options), content_type="application/json")


@require_POST
@verified
def register(request: HttpRequest) -> HttpResponse:
    address = request.session["address"]
    challenge = request.session.pop("passkey_registration_challenge", "")
    rp_id, origin = relying_party()
    if not challenge or len(request.body) > MAX_BODY:
        return JsonResponse({"error": "start the registration again"}, status=400)
    try:
        result = verify_registration_response(credential=request.body.decode("utf-8"),
                                              expected_challenge=bytes.fromhex(challenge),
                                              expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, UnicodeDecodeError) as error:
        log.warning("passkey registration rejected address=%s error=%s", loggable(address), type(error).__name__)
        return JsonResponse({"error": "the passkey could not be verified"}, status=400)
    PatientPasskey.objects.create(address=address, credential_id=result.credential_id,
                                  public_key=result.credential_public_key, sign_count=result.sign_count)
    audit.record("portal.passkey_registered", actor=identity.patient_actor(address))
    log.info("passkey registered address=%s", loggable(address))
    return JsonResponse({"ok": True})


@require_POST
def authentication_options(request: HttpRequest) -> HttpResponse:
    rp_id, _ = relying_party()
    options = generate_authentication_options(rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED)
    request.session["passkey_authentication_challenge"] = options.challenge.hex()
    return HttpResponse(options_to_json(options), content_type="application/json")


@require_POST
def authenticate(request: HttpRequest) -> HttpResponse:
    challenge = request.session.pop("passkey_authentication_challenge", "")
    rp_id, origin = relying_party()
    if not challenge or len(request.body) > MAX_BODY:
        return JsonResponse({"error": "start the sign-in again"}, status=400)
    try:
        credential = json.loads(request.body)
        credential_id = base64url_to_bytes(credential["rawId"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "malformed passkey response"}, status=400)
    passkey = PatientPasskey.objects.filter(credential_id=credential_id).first()
    if passkey is None:
        return JsonResponse({"error": "this passkey is not registered here"}, status=400)
    try:
        result = verify_authentication_response(
            credential=credential, expected_challenge=bytes.fromhex(challenge), expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count)
    except (WebAuthnException, ValueError) as error:
        log.warning("passkey sign-in rejected address=%s error=%s", loggable(passkey.address), type(error).__name__)
        return JsonResponse({"error": "the passkey could not be verified"}, status=400)
    PatientPasskey.objects.filter(pk=passkey.pk).update(sign_count=result.new_sign_count,
                                                        last_used_at=timezone.now())
    request.session.cycle_key()
    request.session["address"] = passkey.address
    audit.record("portal.sign_in", actor=identity.patient_actor(passkey.address), data={"method": "passkey"})
    log.info("portal sign-in address=%s method=passkey", loggable(passkey.address))
    return JsonResponse({"redirect": "/messages/"})
