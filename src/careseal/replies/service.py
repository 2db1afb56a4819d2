"""Handle a patient's plain-mail reply: record how it travelled, forward it, and respond once.

The reply is forwarded to the clinician who sent the original, over
verified TLS, with a banner saying how it arrived and whether it quoted the
original. The patient gets one automatic response per address per period
(RFC 3834): never to the null sender or MAILER-DAEMON, never to mail marked
Auto-Submitted other than "no" or sent in bulk, always with a null
envelope sender and ``Auto-Submitted: auto-replied``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from careseal.audit import trail as audit
from careseal.escrow.notices import compose, format_address
from careseal.mail import reading
from careseal.mail.headers import make_message_id, remove_fields
from careseal.mail.quotes import quotes_original, split_reply
from careseal.mail.reply_notice import add_reply_notice
from careseal.policy.decision import OPPORTUNISTIC, PLAIN_CONSENTED, VERIFIED_TLS
from careseal.portal.models import LanguagePreference
from careseal.queue import store
from careseal.queue.models import Delivery, Message
from careseal.queue.vault import loggable
from careseal.replies.models import (
    LOCAL_PREFIX,
    AutoResponse,
    ReceivedReply,
    ReplyAddress,
    new_reply_token,
    reply_token_hash,
)

log = logging.getLogger("careseal.replies")


@dataclass(frozen=True)
class Arrival:
    """Transport facts about a reply as it reached the inbound MX."""

    mail_from: str
    tls_version: str
    tls_cipher: str
    requiretls: bool


def tracked_content(delivery: Delivery, content: bytes) -> bytes:
    """Return *content* as it goes out by TLS: with the reply notice and a tracked Reply-To, as configured.

    One token serves both the Reply-To address and the notice's secure-reply
    link. It contains no PHI and is stored only as a hash.
    """
    config = settings.CARESEAL
    if delivery.message.kind != Message.Kind.SUBMITTED or not (config.replies.track or config.replies.notice):
        return content
    token = new_reply_token()
    ReplyAddress.objects.create(token_hash=reply_token_hash(token), delivery=delivery)
    if config.replies.notice or delivery.policy == PLAIN_CONSENTED:
        content = add_reply_notice(content, *_notice_texts(delivery.recipient, token,
                                                           consented=delivery.policy == PLAIN_CONSENTED))
    if config.replies.track:
        address = f"{LOCAL_PREFIX}{token}@{config.mx.domains[0]}"
        content = f"Reply-To: <{address}>\r\n".encode("ascii") + remove_fields(content, "Reply-To")
    return content


def _notice_texts(recipient: str, token: str, consented: bool = False) -> tuple[str, str]:
    config = settings.CARESEAL
    preference = LanguagePreference.objects.filter(address=recipient.lower()).first()
    language = preference.language if preference else config.escrow.default_language
    link = f"{config.public_url}/r/{token}"
    with translation.override(language):
        context = {"link": link, "practice": config.practice.name, "language": language, "consented": consented,
                   "consent_link": f"{config.public_url}/consent"}
        return (render_to_string("replies/notice.txt", context).strip(),
                render_to_string("replies/notice.html", context).strip())


def find_address(recipient: str) -> ReplyAddress | None:
    """Return the reply address *recipient* names, if it is one of ours."""
    local, _, domain = recipient.rpartition("@")
    if domain.lower() not in settings.CARESEAL.mx.domains or not local.lower().startswith(LOCAL_PREFIX):
        return None
    token = local[len(LOCAL_PREFIX):]
    return ReplyAddress.objects.select_related("delivery__message").filter(
        token_hash=reply_token_hash(token)).first()


def is_automatic(mail_from: str, message: EmailMessage) -> bool:
    """Return True for mail that must not get an automatic response (RFC 3834 section 2)."""
    sender = mail_from.strip("<>").lower()
    if not sender or sender.split("@")[0] in ("mailer-daemon", "postmaster"):
        return True
    auto_submitted = str(message.get("Auto-Submitted", "no")).split(";")[0].strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return auto_submitted != "no" or precedence in ("bulk", "list", "junk") or message.get("List-Id") is not None


def receive(raw: bytes, address: ReplyAddress, arrival: Arrival) -> ReceivedReply:
    """Record, forward and (when allowed) respond to one reply, all in one transaction."""
    delivery = address.delivery
    original = delivery.message
    parsed = reading.parse(raw)
    text = _text_of(parsed)
    new_text, quoted = split_reply(text)
    original_text = ""
    if original.content_removed_at is None:
        original_text = "\n".join(reading.readable(store.content(original)).texts)
    quoted_original = bool(original_text) and quotes_original(quoted or text, original_text)
    automatic = is_automatic(arrival.mail_from, parsed)
    hops = _received_hops(parsed)
    sender = arrival.mail_from.strip("<>") or str(parsed.get("From", ""))

    with transaction.atomic():
        record = ReceivedReply.objects.create(
            reply_address=address, sender_hash=loggable(sender), tls_version=arrival.tls_version,
            tls_cipher=arrival.tls_cipher, requiretls=arrival.requiretls, received_hops=hops,
            quoted_original=quoted_original, automatic=automatic)
        audit.record("reply.received", actor=f"patient:{loggable(sender)}",
                     subject={"queue_id": original.id, "delivery_id": delivery.pk, "reply_id": record.pk},
                     data={"tls_version": arrival.tls_version, "requiretls": arrival.requiretls,
                           "quoted_original": quoted_original, "automatic": automatic, "hops": hops})
        forward = _forward(raw, parsed, original, arrival, quoted_original, hops, new_text)
        record.forward_queue_id = forward.id
        audit.record("reply.forwarded", subject={"queue_id": original.id, "reply_id": record.pk},
                     data={"forward_queue_id": forward.id})
        if not automatic and _may_answer(sender):
            answer = _autoresponse(sender, parsed)
            record.autoresponse_queue_id = answer.id
            audit.record("autoresponse.sent", actor=f"patient:{loggable(sender)}",
                         subject={"reply_id": record.pk}, data={"queue_id": answer.id})
        record.save(update_fields=["forward_queue_id", "autoresponse_queue_id"])
        if not automatic and settings.CARESEAL.replies.switch_to_escrow:
            from careseal.rules.service import switch_to_escrow

            switch_to_escrow(delivery.recipient, "replied by plain email")
    log.info("reply received queue_id=%s reply=%d tls=%s quoted=%s automatic=%s", original.id, record.pk,
             arrival.tls_version or "none", quoted_original, automatic)
    return record


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain", "html"))
    if body is None:
        return ""
    defects: list[str] = []
    text = reading.decode_text(body, defects)  # type: ignore[arg-type]
    if body.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text


def _received_hops(message: EmailMessage) -> list[dict[str, object]]:
    """Summarize each Received field: the protocol it names and whether that meant TLS (RFC 3848)."""
    hops = []
    for value in message.get_all("Received") or []:
        match = re.search(r"\bwith\s+([A-Za-z0-9]+)", str(value))
        protocol = match.group(1).upper() if match else ""
        hops.append({"with": protocol, "tls": protocol.startswith(("ESMTPS", "UTF8SMTPS")) or "TLS" in str(value)})
    return hops[:20]


def _forward(raw: bytes, parsed: EmailMessage, original: Message, arrival: Arrival, quoted_original: bool,
             hops: list[dict[str, object]], new_text: str) -> Message:
    config = settings.CARESEAL
    clinician = original.envelope_sender
    how = (f"over TLS ({arrival.tls_version}, {arrival.tls_cipher})" if arrival.tls_version
           else "WITHOUT encryption on its last hop")
    earlier = sum(1 for hop in hops if hop["tls"])
    banner = (
        "This is a patient's reply by ordinary email to a message you sent through CareSeal.\n"
        f"It reached the gateway {how}. Of {len(hops)} earlier hops, {earlier} recorded TLS.\n"
        + ("It QUOTES your original message, so that text travelled by plain email too.\n" if quoted_original
           else "It does not quote your original message.\n")
        + "The patient was offered a secure way to reply. The original reply is attached.\n"
        "\n----- New text of the reply -----\n" + new_text + "\n")
    if config.replies.strip_quoted:
        banner = banner.replace("The original reply is attached.", "The quoted original was removed.")
    message = EmailMessage(policy=SMTP)
    message["From"] = format_address(f"Patient reply via {config.practice.name}", config.practice.notices_from)
    reply_from = str(parsed.get("From", ""))
    if reply_from:
        message["Reply-To"] = reply_from
    message["To"] = format_address("", clinician)
    message["Subject"] = " ".join(str(parsed.get("Subject", "Patient reply")).split())[:200] or "Patient reply"
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message_id = make_message_id(config.hostname)
    message["Message-ID"] = message_id
    if original.message_id:
        message["In-Reply-To"] = original.message_id
        message["References"] = original.message_id
    message["X-CareSeal-Origin"] = "patient reply by plain email"
    message.set_content(banner)
    if not config.replies.strip_quoted:
        # As a file rather than message/rfc822: the reply may hold bare LF or 8-bit bytes that an
        # embedded message part would have to carry unchanged.
        message.add_attachment(raw, maintype="application", subtype="octet-stream", filename="patient-reply.eml")
    content = message.as_bytes()
    return store.accept(store.Submission(
        content=content, envelope_sender=config.practice.notices_from, recipients=[clinician],
        message_id=message_id, kind=Message.Kind.PORTAL, policy=VERIFIED_TLS,
        policy_reasons=("patient reply forwarded to the clinic: verified TLS only",),
        body_8bit=not content.isascii(), smtputf8=not clinician.isascii()))


def _may_answer(sender: str) -> bool:
    period = dt.timedelta(seconds=settings.CARESEAL.replies.autoresponse_interval)
    key = loggable(sender)
    now = timezone.now()
    row = AutoResponse.objects.select_for_update().filter(sender_hash=key).first()
    if row is not None and row.last_sent_at > now - period:
        return False
    AutoResponse.objects.update_or_create(sender_hash=key, defaults={"last_sent_at": now})
    return True


def _autoresponse(sender: str, parsed: EmailMessage) -> Message:
    config = settings.CARESEAL
    text = (f"Thank you for your reply to {config.practice.name}.\n\n"
            "Replies by ordinary email may not be private. Your reply has been passed on, but for anything\n"
            "about your health, please use the secure way to write to us:\n\n"
            f"  {config.public_url}/contact\n\n"
            "This is an automatic message; we send it at most once a week.\n")
    html = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", " ") + "</p>"
    content = compose(recipient=sender, subject=f"About your reply to {config.practice.name}", text=text,
                      html=html, language=config.escrow.default_language, auto_submitted="auto-replied",
                      in_reply_to=str(parsed.get("Message-ID", "")))
    return store.accept(store.Submission(
        content=content, envelope_sender="", recipients=[sender], kind=Message.Kind.NOTICE, policy=OPPORTUNISTIC,
        policy_reasons=("automatic response holds no PHI",), body_8bit=not content.isascii(),
        smtputf8=not sender.isascii()))
