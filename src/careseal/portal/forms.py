from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_REPLY_FILES = 5
MAX_REPLY_BYTES = 20 * 1024 * 1024


class AddressForm(forms.Form):
    address = forms.EmailField(label=_("Your email address"), max_length=320,
                               widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code"), max_length=12, min_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "pattern": "[0-9 ]*", "size": 8}))


class AccessCodeForm(forms.Form):
    code = forms.CharField(label=_("Access code from the practice"), max_length=40,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), max_length=20000, widget=forms.Textarea(attrs={"rows": 8}))
    attachments = MultipleFileField(label=_("Attach files (optional)"), required=False)

    def clean_attachments(self) -> list[Any]:
        files = self.cleaned_data.get("attachments") or []
        if len(files) > MAX_REPLY_FILES:
            raise forms.ValidationError(_("Attach at most %(count)d files.") % {"count": MAX_REPLY_FILES})
        if sum(f.size for f in files) > MAX_REPLY_BYTES:
            raise forms.ValidationError(_("Attachments may total at most 20 MB."))
        return files
