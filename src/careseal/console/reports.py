"""The risk report, downloaded from the console in any of its three formats."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from careseal.audit import trail as audit
from careseal.consent.models import Consent
from careseal.console.admin import site
from careseal.queue.vault import blob_store, key_ring
from careseal.reports import risk
from careseal.vault import envelope


class RiskReportForm(forms.Form):
    start = forms.DateField(label="From (first day, UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (day after the last, UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(label="Format", choices=[("pdf", "PDF"), ("html", "HTML"), ("csv", "CSV")])

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise forms.ValidationError("The end date must be after the start date.")
        return data


@require_http_methods(["GET", "POST"])
def risk_report(request: HttpRequest) -> HttpResponse:
    if not site.has_permission(request) or not request.user.has_perm("careseal_audit.view_auditevent"):
        return redirect("console:sign_in")
    today = dt.datetime.now(dt.UTC).date()
    initial = {"start": today.replace(month=1, day=1), "end": today + dt.timedelta(days=1), "format": "pdf"}
    form = RiskReportForm(request.POST or None, initial=initial)
    if request.method != "POST" or not form.is_valid():
        context = {**site.each_context(request), "form": form, "title": "Risk report"}
        return render(request, "console/risk_report.html", context, status=400 if request.method == "POST" else 200)

    start, end, fmt = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["format"]
    report = risk.compute(start, end)
    audit.record("console.report_generated", actor=f"staff:{request.user.pk}",
                 data={"from": start.isoformat(), "to": end.isoformat(), "format": fmt})
    name = f"careseal-risk-{start}-{end}.{fmt}"
    if fmt == "pdf":
        response = HttpResponse(risk.render_pdf(report), content_type="application/pdf")
    elif fmt == "csv":
        response = HttpResponse(risk.render_csv(report), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(risk.render_html(report), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def consent_form(request: HttpRequest, consent_id: int) -> HttpResponse:
    """Download the sealed scan of a paper consent, for staff allowed to view consents."""
    if not site.has_permission(request) or not request.user.has_perm("careseal_consent.view_consent"):
        return redirect("console:sign_in")
    consent = Consent.objects.filter(pk=consent_id).exclude(form_blob="").first()
    if consent is None:
        raise Http404("no scanned form")
    content = envelope.open_sealed(key_ring(), consent.form_blob, blob_store().get(consent.form_blob),
                                   consent.form_key_id, bytes(consent.form_wrapped_key))
    audit.record("console.consent_form_viewed", actor=f"staff:{request.user.pk}", subject={"consent_id": consent.pk})
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{consent.form_filename or "consent-form"}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
