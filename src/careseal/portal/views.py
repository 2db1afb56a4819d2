"""Patient pages: pickup link, one-time code, inbox, message, parts, attachments and reply.

Session keys:

* ``pending_address``: the mailbox a code may be sent to, from a pickup
  link or the sign-in form.
* ``address``: the mailbox the patient proved, with a code, a password or
  a passkey.
* ``pickup_escrow``: the message the pickup link was for.

Nothing in a URL after the pickup link identifies the patient.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import i18n as i18n_views
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from careseal.audit import trail as audit
from careseal.escrow import lifecycle
from careseal.escrow.models import Escrow, token_hash
from careseal.mail import reading
from careseal.mail.headers import split_message
from careseal.mail.sanitize import clean_html
from careseal.portal import identity
from careseal.portal.forms import AccessCodeForm, AddressForm, CodeForm, ReplyForm
from careseal.portal.models import LanguagePreference
from careseal.portal.reply import build_reply, queue_to_clinic
from careseal.queue import store
from careseal.queue.vault import hash_access_code, loggable
from careseal.vault.blobstore import BlobUnusable, StorageError
from careseal.vault.envelope import DecryptionError

log = logging.getLogger("careseal.portal")

STATIC_DIR = Path(__file__).resolve().parent / "static" / "portal"
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def verified(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send a visitor who has not proved a mailbox to the start page."""
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.session.get("address"):
            return redirect("portal:home")
        return view(request, *args, **kwargs)
    return wrapper


class Unavailable(Exception):
    """An escrow that exists for this patient but was recalled or has expired."""

    def __init__(self, escrow: Escrow) -> None:
        super().__init__(escrow.status)
        self.escrow = escrow


def _escrow_for(request: HttpRequest, escrow_id: str) -> Escrow:
    """Return the escrow *escrow_id* if it belongs to the session's address and can be read.

    Raises Http404 for someone else's or an unknown escrow, so ids cannot be
    probed, and Unavailable for the patient's own recalled or expired one.
    """
    escrow = Escrow.objects.select_related("message").filter(pk=escrow_id).first()
    if escrow is None or escrow.recipient != request.session.get("address"):
        raise Http404("message not found")
    if not escrow.available:
        raise Unavailable(escrow)
    if escrow.message.access_code_hash and escrow.id not in request.session.get("access_ok", []):
        raise NeedsAccessCode(escrow)
    return escrow


class NeedsAccessCode(Exception):
    """The sender set an access code for this message and the session has not entered it."""

    def __init__(self, escrow: Escrow) -> None:
        super().__init__(escrow.id)
        self.escrow = escrow


def unavailable_page(request: HttpRequest, escrow: Escrow) -> HttpResponse:
    """Return 410 Gone with a page that distinguishes a recalled message from an expired one."""
    recalled = escrow.status == Escrow.Status.RECALLED
    return render(request, "portal/unavailable.html", {"recalled": recalled}, status=410)


def handles_unavailable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Unavailable as gone:
            return unavailable_page(request, gone.escrow)
        except NeedsAccessCode as locked:
            return redirect("portal:access_code", escrow_id=locked.escrow.id)
    return wrapper


@require_http_methods(["GET", "POST"])
@verified
def access_code(request: HttpRequest, escrow_id: str) -> HttpResponse:
    """Ask for the code the practice gave the patient by phone, counting failures like one-time codes."""
    escrow = Escrow.objects.select_related("message").filter(pk=escrow_id).first()
    address = request.session["address"]
    if escrow is None or escrow.recipient != address:
        raise Http404("message not found")
    if not escrow.available:
        return unavailable_page(request, escrow)
    form = AccessCodeForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "escrow": escrow}
    if request.method != "POST" or not form.is_valid():
        return render(request, "portal/access_code.html", context, status=400 if request.method == "POST" else 200)
    if identity.is_locked(address):
        context["error"] = "locked"
        return render(request, "portal/access_code.html", context, status=429)
    entered = hash_access_code(form.cleaned_data["code"].strip())
    if not hmac.compare_digest(entered, escrow.message.access_code_hash):
        audit.record("portal.access_code_failed", actor=identity.patient_actor(address),
                     subject={"escrow_id": escrow.id})
        context["error"] = "locked" if identity.record_failure(address) else "wrong"
        log.warning("access code rejected escrow=%s", escrow.id)
        return render(request, "portal/access_code.html", context,
                      status=429 if context["error"] == "locked" else 400)
    request.session["access_ok"] = [*request.session.get("access_ok", []), escrow.id]
    return redirect("portal:message", escrow_id=escrow.id)


def _content(escrow: Escrow) -> bytes:
    return store.content(escrow.message)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.session.get("address"):
        return redirect("portal:inbox")
    return render(request, "portal/home.html", {"form": AddressForm()})


@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST)
    if not form.is_valid():
        return render(request, "portal/home.html", {"form": form}, status=400)
    request.session.cycle_key()
    request.session["pending_address"] = form.cleaned_data["address"].lower()
    request.session.pop("pickup_escrow", None)
    return redirect("portal:pickup")


@require_GET
def pickup_link(request: HttpRequest, token: str) -> HttpResponse:
    """Exchange a pickup token for a session and redirect to a URL without it.

    Opening the link only records which message it was for. It sends no
    code and uses nothing up, so a mail scanner that fetches it first does
    no harm. The patient then requests a code on the next page.
    """
    escrow = Escrow.objects.filter(token_hash=token_hash(token)).first()
    if escrow is None:
        response = render(request, "portal/link_invalid.html", status=404)
    elif not escrow.available:
        response = unavailable_page(request, escrow)
    else:
        if request.session.get("address") != escrow.recipient:
            request.session.cycle_key()
            request.session.pop("address", None)
        request.session["pending_address"] = escrow.recipient
        request.session["pickup_escrow"] = escrow.id
        target = "portal:message" if request.session.get("address") == escrow.recipient else "portal:pickup"
        response = (redirect(target, escrow_id=escrow.id) if target == "portal:message"
                    else redirect(target))
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def pickup(request: HttpRequest) -> HttpResponse:
    address = request.session.get("pending_address")
    if not address:
        return redirect("portal:home")
    return render(request, "portal/pickup.html", {"masked": mask_address(address)})


@require_POST
def send_code(request: HttpRequest) -> HttpResponse:
    address = request.session.get("pending_address")
    if not address:
        return redirect("portal:home")
    result = identity.send_code(address, translation.get_language() or settings.LANGUAGE_CODE)
    if result is not identity.SendResult.SENT:
        return render(request, "portal/pickup.html", {"masked": mask_address(address), "limit": result.value},
                      status=429)
    return redirect("portal:verify")


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    address = request.session.get("pending_address")
    if not address:
        return redirect("portal:home")
    form = CodeForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "masked": mask_address(address)}
    if request.method != "POST" or not form.is_valid():
        return render(request, "portal/verify.html", context, status=400 if request.method == "POST" else 200)

    result = identity.check_code(address, form.cleaned_data["code"])
    if result is not identity.CheckResult.OK:
        context["error"] = result.value
        return render(request, "portal/verify.html", context,
                      status=429 if result is identity.CheckResult.LOCKED else 400)

    pickup_escrow = request.session.get("pickup_escrow")
    request.session.cycle_key()
    request.session["address"] = address
    log.info("portal sign-in address=%s method=code", loggable(address))
    return finish_sign_in(request, address, pickup_escrow)


def finish_sign_in(request: HttpRequest, address: str, pickup_escrow: str | None) -> HttpResponse:
    """Redirect a newly signed-in patient to the page they came for."""
    after = request.session.pop("after_verify", None)
    next_url = safe_next(request) or (after if isinstance(after, str) and after.startswith("/") else "")
    if next_url:
        return HttpResponseRedirect(next_url)
    if pickup_escrow:
        return redirect("portal:message", escrow_id=pickup_escrow)
    return redirect("portal:inbox")


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the page language, and remember it for a signed-in patient's later notices."""
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "")
    address = request.session.get("address")
    if address and language in dict(settings.LANGUAGES):
        LanguagePreference.objects.update_or_create(address=address, defaults={"language": language})
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return redirect("portal:home")


@require_GET
@verified
def inbox(request: HttpRequest) -> HttpResponse:
    address = request.session["address"]
    escrows = [e for e in Escrow.objects.select_related("message").filter(recipient=address) if e.available]
    items = []
    for escrow in escrows:
        try:
            content = _content(escrow)
        except (StorageError, DecryptionError) as error:
            # One unreadable message must not hide the others.
            log.error("inbox entry unreadable escrow=%s: %s", escrow.id, error)
            items.append({"escrow": escrow, "unreadable": True})
            continue
        # The list needs Subject and From only, so only the header block is parsed.
        header_block, _ = split_message(content)
        parsed = reading.parse(header_block + b"\r\n")
        items.append({"escrow": escrow, "subject": reading.header_text(parsed, "Subject"),
                      "sender": reading.header_text(parsed, "From")})
    return render(request, "portal/inbox.html", {"items": items})


@require_GET
@verified
@handles_unavailable
def message(request: HttpRequest, escrow_id: str) -> HttpResponse:
    escrow = _escrow_for(request, escrow_id)
    parsed = reading.readable(_content(escrow))
    if escrow.first_opened_at is None:
        lifecycle.first_opened(escrow)
    return render(request, "portal/message.html", {
        "escrow": escrow, "message": parsed, "sent": request.GET.get("sent") == "1",
    })


@require_GET
@verified
@handles_unavailable
@xframe_options_sameorigin
@csp_override({
    "default-src": [CSP.NONE],
    "style-src": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.NONE],
    "font-src": [CSP.NONE],
    "form-action": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.SELF],
    "sandbox": ["allow-popups", "allow-popups-to-escape-sandbox"],
})
def html_part(request: HttpRequest, escrow_id: str, index: int) -> HttpResponse:
    """Serve one HTML part, cleaned on its own, as a sandboxed document for an iframe."""
    escrow = _escrow_for(request, escrow_id)
    found = reading.part_bytes(_content(escrow), index)
    if found is None or found[0].get_content_type() != "text/html":
        raise Http404("part not found")
    part, payload = found
    charset = part.get_content_charset() or "utf-8"
    try:
        html = payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        html = payload.decode("utf-8", "replace")
    document = ('<!DOCTYPE html><html><head><meta charset="utf-8"><base target="_blank">'
                '<style>body{font-family:sans-serif;margin:0;overflow-wrap:anywhere}</style></head><body>'
                + clean_html(html) + "</body></html>")
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@verified
@handles_unavailable
def attachment(request: HttpRequest, escrow_id: str, index: int) -> HttpResponse:
    escrow = _escrow_for(request, escrow_id)
    found = reading.part_bytes(_content(escrow), index)
    if found is None:
        raise Http404("attachment not found")
    part, payload = found
    filename = reading.safe_filename(part.get_filename())
    content_type = part.get_content_type()
    if not _CONTENT_TYPE.match(content_type) or content_type.startswith("text/html"):
        content_type = "application/octet-stream"
    audit.record("portal.attachment_downloaded", actor=identity.patient_actor(escrow.recipient),
                 subject={"queue_id": escrow.message_id, "escrow_id": escrow.id}, data={"part": index})
    log.info("attachment downloaded escrow=%s part=%d", escrow.id, index)
    return _download(payload, filename, content_type)


@require_GET
@verified
@handles_unavailable
def download(request: HttpRequest, escrow_id: str) -> HttpResponse:
    """Return the whole message, attachments included, as an .eml file the patient can keep."""
    escrow = _escrow_for(request, escrow_id)
    content = _content(escrow)
    audit.record("portal.message_downloaded", actor=identity.patient_actor(escrow.recipient),
                 subject={"queue_id": escrow.message_id, "escrow_id": escrow.id})
    log.info("message downloaded escrow=%s", escrow.id)
    return _download(content, f"message-{escrow.created_at:%Y-%m-%d}.eml", "message/rfc822")


@require_http_methods(["GET", "POST"])
@verified
@handles_unavailable
def reply(request: HttpRequest, escrow_id: str) -> HttpResponse:
    escrow = _escrow_for(request, escrow_id)
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "portal/reply.html", {"escrow": escrow, "form": form}, status=status)

    clinician = escrow.message.envelope_sender
    try:
        original = reading.readable(_content(escrow))
        content, message_id = build_reply(patient=escrow.recipient, to=clinician, original=original,
                                          body=form.cleaned_data["body"], files=form.cleaned_data["attachments"])
        queued = queue_to_clinic(content, message_id, clinician, "portal reply to the clinic: verified TLS only")
    except StorageError as error:
        if isinstance(error, BlobUnusable):
            raise  # lost content is not an outage, and the error page explains that
        # Keep what the patient typed on the page; only attachments must be chosen again.
        log.error("portal reply not stored escrow=%s: %s", escrow.id, error)
        return render(request, "portal/reply.html", {"escrow": escrow, "form": form, "error": "storage"},
                      status=503)
    audit.record("portal.reply_sent", actor=identity.patient_actor(escrow.recipient),
                 subject={"queue_id": escrow.message_id, "escrow_id": escrow.id}, data={"reply_queue_id": queued.id})
    log.info("portal reply queued escrow=%s queue_id=%s", escrow.id, queued.id)
    return HttpResponseRedirect(reverse("portal:message", args=[escrow.id]) + "?sent=1")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


@require_GET
def passkeys_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse((STATIC_DIR / "passkeys.js").read_bytes(),
                            content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def stylesheet(request: HttpRequest) -> HttpResponse:
    response = HttpResponse((STATIC_DIR / "portal.css").read_bytes(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _download(payload: bytes, filename: str, content_type: str) -> HttpResponse:
    response = FileResponse(iter([payload]), content_type=content_type)
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    response["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                       f"filename*=UTF-8''{quote(filename, safe='')}")
    response["Content-Length"] = str(len(payload))
    response["X-Content-Type-Options"] = "nosniff"
    return response


def mask_address(address: str) -> str:
    """Return *address* with most of the local part hidden, as in ``p***t@example.test``."""
    local, _, domain = address.partition("@")
    shown = local[0] + "***" + (local[-1] if len(local) > 2 else "")
    return f"{shown}@{domain}"


def safe_next(request: HttpRequest) -> str:
    """Return the ``next`` parameter if it is a path on this site, else ""."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return ""
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        return ""
    return candidate

