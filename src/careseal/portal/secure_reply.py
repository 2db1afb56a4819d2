"""Secure replies to messages that were delivered by TLS, reached from the reply notice's link.

The link carries the same token as the message's tracked Reply-To address.
Like a pickup link, opening it only records which message it is for; the
patient then proves the mailbox with a code before writing.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from careseal.audit import trail as audit
from careseal.mail import reading
from careseal.portal import identity
from careseal.portal.forms import ReplyForm
from careseal.portal.reply import build_reply, queue_to_clinic
from careseal.portal.views import verified
from careseal.queue import store
from careseal.queue.models import Delivery, Message
from careseal.replies.models import ReplyAddress, reply_token_hash

log = logging.getLogger("careseal.portal")


@require_GET
def reply_link(request: HttpRequest, token: str) -> HttpResponse:
    address = ReplyAddress.objects.select_related("delivery").filter(token_hash=reply_token_hash(token)).first()
    if address is None:
        response = render(request, "portal/link_invalid.html", status=404)
        response["Referrer-Policy"] = "no-referrer"
        return response
    recipient = address.delivery.recipient.lower()
    target = reverse("portal:secure_reply", args=[address.delivery_id])
    if request.session.get("address") == recipient:
        response = HttpResponseRedirect(target)
    else:
        request.session.cycle_key()
        request.session.pop("address", None)
        request.session["pending_address"] = recipient
        request.session["after_verify"] = target
        response = redirect("portal:pickup")
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["GET", "POST"])
@verified
def secure_reply(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = Delivery.objects.select_related("message").filter(pk=delivery_id).first()
    if delivery is None or delivery.recipient.lower() != request.session["address"] \
            or delivery.message.kind != Message.Kind.SUBMITTED:
        raise Http404("message not found")
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "portal/secure_reply.html", {"form": form, "sent": request.GET.get("sent") == "1"},
                      status=400 if request.method == "POST" else 200)

    message = delivery.message
    if message.content_removed_at is None:
        original = reading.readable(store.content(message))
    else:
        original = reading.ReadableMessage(sender="", subject="", date="", message_id=message.message_id,
                                           references="")
    content, message_id = build_reply(patient=delivery.recipient, to=message.envelope_sender, original=original,
                                      body=form.cleaned_data["body"], files=form.cleaned_data["attachments"])
    queued = queue_to_clinic(content, message_id, message.envelope_sender,
                             "portal reply to the clinic: verified TLS only")
    audit.record("portal.reply_sent", actor=identity.patient_actor(delivery.recipient),
                 subject={"queue_id": message.id, "delivery_id": delivery.pk}, data={"reply_queue_id": queued.id})
    log.info("secure reply queued delivery=%s queue_id=%s", delivery.pk, queued.id)
    return HttpResponseRedirect(reverse("portal:secure_reply", args=[delivery.pk]) + "?sent=1")
