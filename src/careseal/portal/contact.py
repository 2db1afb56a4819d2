"""The public secure contact page: anyone who proves their address can write to a department."""

from __future__ import annotations

import email.utils
import logging
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from careseal.audit import trail as audit
from careseal.escrow.notices import format_address
from careseal.mail.headers import make_message_id
from careseal.portal import identity
from careseal.portal.forms import AddressForm, MultipleFileField, ReplyForm
from careseal.portal.reply import attach_uploads, queue_to_clinic
from careseal.queue.vault import loggable

log = logging.getLogger("careseal.portal")


class ContactForm(forms.Form):
    department = forms.ChoiceField(label=_("Department"))
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Your message"), max_length=20000, widget=forms.Textarea(attrs={"rows": 8}))
    attachments = MultipleFileField(label=_("Attach files (optional)"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        departments = settings.CARESEAL.contact.departments
        self.fields["department"].choices = [(name, name) for name in departments]

    clean_attachments = ReplyForm.clean_attachments


def _departments() -> dict[str, str]:
    departments = settings.CARESEAL.contact.departments
    if not departments:
        raise Http404("the contact page is not enabled")
    return departments


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    departments = _departments()
    address = request.session.get("address")
    if not address:
        return render(request, "portal/contact_start.html", {"form": AddressForm()})

    form = ContactForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "portal/contact.html", {"form": form, "sent": request.GET.get("sent") == "1"},
                      status=status)

    to = departments[form.cleaned_data["department"]]
    content, message_id = build_contact_message(
        patient=address, to=to, subject=form.cleaned_data["subject"], body=form.cleaned_data["body"],
        files=form.cleaned_data["attachments"])
    queued = queue_to_clinic(content, message_id, to, "secure contact message to the practice: verified TLS only")
    audit.record("portal.contact_sent", actor=identity.patient_actor(address), data={"queue_id": queued.id})
    log.info("contact message queued address=%s queue_id=%s", loggable(address), queued.id)
    return HttpResponseRedirect(reverse("portal:contact") + "?sent=1")


@require_POST
def contact_start(request: HttpRequest) -> HttpResponse:
    _departments()
    form = AddressForm(request.POST)
    if not form.is_valid():
        return render(request, "portal/contact_start.html", {"form": form}, status=400)
    request.session.cycle_key()
    request.session["pending_address"] = form.cleaned_data["address"].lower()
    request.session["after_verify"] = reverse("portal:contact")
    request.session.pop("pickup_escrow", None)
    return redirect("portal:pickup")


def build_contact_message(*, patient: str, to: str, subject: str, body: str, files: list[Any]) -> tuple[bytes, str]:
    config = settings.CARESEAL
    message = EmailMessage(policy=SMTP)
    message["From"] = format_address(f"{patient} via {config.practice.name}", config.practice.notices_from)
    message["Reply-To"] = format_address("", patient)
    message["To"] = format_address("", to)
    message["Subject"] = f"[Secure contact] {' '.join(subject.split())}"
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message_id = make_message_id(config.hostname)
    message["Message-ID"] = message_id
    message["X-CareSeal-Origin"] = "secure contact page"
    message.set_content(body)
    attach_uploads(message, files)
    return message.as_bytes(), message_id
