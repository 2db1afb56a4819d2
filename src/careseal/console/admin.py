"""The console's admin site: message tracking, escrow actions, audit trail and accounts."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from careseal.accounts.models import SenderDomain
from careseal.audit import trail as audit
from careseal.audit.models import AuditEvent
from careseal.consent import service as consent_service
from careseal.consent.models import Consent
from careseal.console.auth import SESSION_VERIFIED
from careseal.escrow import lifecycle
from careseal.escrow import service as escrow_service
from careseal.escrow.models import Escrow
from careseal.mail import reading
from careseal.queue.models import Delivery, DeliveryAttempt, Message
from careseal.queue.vault import blob_store, key_ring
from careseal.rules.models import PolicyRule
from careseal.vault import envelope


class ConsoleSite(admin.AdminSite):
    site_header = "CareSeal staff console"
    site_title = "CareSeal console"
    index_title = "Mail, escrow and audit"
    index_template = "console/index.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.session.get(SESSION_VERIFIED))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {"risk_report_url": reverse("console:risk_report"), **(extra_context or {})}
        return super().index(request, extra)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("console:sign_in"))


site = ConsoleSite(name="console_admin")


class ReadOnly(admin.ModelAdmin):
    """Rows that are evidence: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "outcome", "reason", "next_hop", "remote_address", "mta_sts", "tls_version",
              "tls_cipher", "cert_subject", "cert_issuer", "cert_fingerprint_sha256", "cert_verified", "smtp_code",
              "smtp_reply")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery, site=site)
class DeliveryAdmin(ReadOnly):
    list_display = ("message_id", "recipient", "status", "policy", "attempts", "next_attempt_at", "updated_at")
    list_filter = ("status", "policy", ("message__created_at", admin.DateFieldListFilter))
    search_fields = ("recipient", "message__id", "message__envelope_sender")
    date_hierarchy = "message__created_at"
    inlines = [AttemptInline]
    readonly_fields = ("message", "recipient", "status", "policy", "policy_reasons", "attempts", "next_attempt_at",
                       "last_reason", "finished_at")
    exclude = ("lease_owner", "lease_expires_at")


@admin.register(Message, site=site)
class MessageAdmin(ReadOnly):
    list_display = ("id", "kind", "created_at", "envelope_sender", "size")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id", "envelope_sender", "deliveries__recipient")
    exclude = ("wrapped_key", "key_id", "access_code_hash")


@admin.register(Escrow, site=site)
class EscrowAdmin(ReadOnly):
    list_display = ("message_id", "recipient", "status", "created_at", "expires_at", "first_opened_at")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("recipient", "message__id")
    exclude = ("token_hash",)
    actions = ["recall", "extend_week", "expire_now", "resend_notice"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for actions; the change form itself stays read-only through readonly_fields.
        return request.user.has_perm("careseal_escrow.change_escrow")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Escrow._meta.fields if field.name != "token_hash"]

    def _actor(self, request: HttpRequest) -> str:
        return f"staff:{request.user.pk}"

    @admin.action(description="Recall: withdraw from the portal", permissions=["change"])
    def recall(self, request: HttpRequest, queryset: QuerySet[Escrow]) -> None:
        count = 0
        for escrow in queryset.filter(status=Escrow.Status.ACTIVE):
            count += lifecycle.recall(escrow.message_id, escrow.recipient, actor=self._actor(request))
        self.message_user(request, f"{count} escrowed message(s) recalled.", messages.SUCCESS)

    @admin.action(description="Extend by 7 days", permissions=["change"])
    def extend_week(self, request: HttpRequest, queryset: QuerySet[Escrow]) -> None:
        count = 0
        for escrow in queryset.filter(status=Escrow.Status.ACTIVE):
            escrow.expires_at = max(escrow.expires_at, timezone.now()) + dt.timedelta(days=7)
            escrow.reminder_sent_at = None
            escrow.save(update_fields=["expires_at", "reminder_sent_at"])
            audit.record("escrow.extended", actor=self._actor(request),
                         subject={"queue_id": escrow.message_id, "escrow_id": escrow.id}, data={"days": 7})
            count += 1
        self.message_user(request, f"{count} escrowed message(s) extended by 7 days.", messages.SUCCESS)

    @admin.action(description="Resend the pickup notice (a new link replaces the old)", permissions=["change"])
    def resend_notice(self, request: HttpRequest, queryset: QuerySet[Escrow]) -> None:
        count = 0
        for escrow in queryset.filter(status=Escrow.Status.ACTIVE):
            escrow_service.resend_notice(escrow, actor=self._actor(request))
            count += 1
        self.message_user(request, f"{count} pickup notice(s) resent.", messages.SUCCESS)

    @admin.action(description="Expire now", permissions=["change"])
    def expire_now(self, request: HttpRequest, queryset: QuerySet[Escrow]) -> None:
        changed = 0
        for escrow in queryset.filter(status=Escrow.Status.ACTIVE):
            Escrow.objects.filter(pk=escrow.pk).update(expires_at=timezone.now())
            changed += 1
        result = lifecycle.housekeeping()
        self.message_user(request, f"{result['expired']} escrowed message(s) expired.", messages.SUCCESS)


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(ReadOnly):
    list_display = ("seq", "created_at", "kind", "actor", "subject")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("kind", "actor")


@admin.register(PolicyRule, site=site)
class PolicyRuleAdmin(admin.ModelAdmin):
    list_display = ("kind", "value", "policy", "note", "created_at")
    list_filter = ("kind", "policy")
    search_fields = ("value", "note")
    readonly_fields = ("created_at", "created_by")

    def save_model(self, request: HttpRequest, obj: PolicyRule, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        audit.record("console.policy_rule_saved", actor=f"staff:{request.user.pk}",
                     data={"kind": obj.kind, "policy": obj.policy, "rule_id": obj.pk})

    def delete_model(self, request: HttpRequest, obj: PolicyRule) -> None:
        audit.record("console.policy_rule_deleted", actor=f"staff:{request.user.pk}",
                     data={"kind": obj.kind, "policy": obj.policy, "rule_id": obj.pk})
        super().delete_model(request, obj)


class PaperConsentForm(forms.ModelForm):
    scanned_form = forms.FileField(required=False, help_text="scan of the signed paper form (PDF or image)")

    class Meta:
        model = Consent
        fields = ("address", "typed_name", "language", "given_at", "expires_at")


@admin.register(Consent, site=site)
class ConsentAdmin(admin.ModelAdmin):
    """Consent records; staff add paper consents with their scanned form, which is stored sealed."""

    form = PaperConsentForm
    list_display = ("address", "method", "given_at", "expires_at", "revoked_at", "text_version")
    list_filter = ("method", ("given_at", admin.DateFieldListFilter))
    search_fields = ("address",)
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("address", "typed_name", "language", "given_at", "expires_at", "method", "text_version",
                "ip_address", "user_agent", "revoked_at", "revoked_via", "scanned_form_link", "recorded_by")

    @admin.display(description="Scanned form")
    def scanned_form_link(self, obj: Consent) -> str:
        if not obj.form_blob:
            return "-"
        url = reverse("console:consent_form", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.form_filename or "form")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("address", "typed_name", "language", "given_at", "expires_at", "scanned_form")
        return self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Consent, form: Any, change: bool) -> None:
        if change:
            return
        upload = form.cleaned_data.get("scanned_form")
        consent = consent_service.give(
            address=obj.address, typed_name=obj.typed_name, language=obj.language or "en", method="paper",
            expires_at=obj.expires_at, recorded_by_id=request.user.pk, actor=f"staff:{request.user.pk}")
        if upload is not None:
            # Random, so instances that share a bucket prefix by mistake cannot overwrite each other's scans.
            name = f"consent-{consent.pk}-{secrets.token_hex(8)}"
            sealed = envelope.seal(key_ring(), name, upload.read())
            blob_store().put(name, sealed.blob)
            Consent.objects.filter(pk=consent.pk).update(
                form_blob=name, form_key_id=sealed.key_id, form_wrapped_key=sealed.wrapped_key,
                form_filename=reading.safe_filename(upload.name))
        obj.pk = consent.pk

    @admin.action(description="Revoke consent", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Consent]) -> None:
        count = 0
        for address in set(queryset.values_list("address", flat=True)):
            count += consent_service.revoke(address, via="staff", actor=f"staff:{request.user.pk}")
        self.message_user(request, f"{count} consent(s) revoked.", messages.SUCCESS)


site.register(SenderDomain)
site.register(User, UserAdmin)
site.register(Group, GroupAdmin)
