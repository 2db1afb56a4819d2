"""The patient's consent page: read the risks, type your name, confirm; or withdraw."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from careseal.consent import service
from careseal.consent.models import CONSENT_TEXT_VERSION
from careseal.portal.views import verified


class ConsentForm(forms.Form):
    typed_name = forms.CharField(label=_("Type your full name"), max_length=200)
    confirm = forms.BooleanField(label=_("I have read the risks and agree to receive messages by ordinary email."))


@require_http_methods(["GET", "POST"])
@verified
def consent_page(request: HttpRequest) -> HttpResponse:
    address = request.session["address"]
    form = ConsentForm(request.POST or None)
    context = {"form": form, "consent": service.valid_consent(address), "version": CONSENT_TEXT_VERSION,
               "done": request.GET.get("done", "")}
    if request.method != "POST" or not form.is_valid():
        return render(request, "consent/page.html", context, status=400 if request.method == "POST" else 200)
    if context["consent"] is None:
        service.give(address=address, typed_name=form.cleaned_data["typed_name"],
                     language=translation.get_language() or "en", method="portal",
                     ip_address=request.META.get("REMOTE_ADDR"),
                     user_agent=request.META.get("HTTP_USER_AGENT", ""))
    return redirect("/consent?done=given")


@require_POST
@verified
def revoke(request: HttpRequest) -> HttpResponse:
    service.revoke(request.session["address"], via="portal")
    return redirect("/consent?done=revoked")
