"""The three staff roles, kept as Django groups with fixed permissions.

* Administrators: everything, including accounts.
* Staff: track messages and recall, extend or expire escrowed ones.
* Auditors: read everything, change nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ADMINISTRATORS = "Administrators"
STAFF = "Staff"
AUDITORS = "Auditors"

_VIEW = ["view_message", "view_delivery", "view_deliveryattempt", "view_escrow", "view_auditevent",
         "view_consent"]


def ensure_roles(**_: Any) -> None:
    """Create or update the role groups; connected to post_migrate."""
    by_codename = {p.codename: p for p in Permission.objects.filter(
        content_type__app_label__in=["careseal_queue", "careseal_escrow", "careseal_audit",
                                     "careseal_accounts", "careseal_rules", "careseal_consent", "auth"])}
    wanted = {
        AUDITORS: [*_VIEW, "view_policyrule"],
        STAFF: [*_VIEW, "change_escrow", "view_policyrule", "add_policyrule", "change_policyrule",
                "delete_policyrule", "add_consent", "change_consent"],
        ADMINISTRATORS: list(by_codename),
    }
    for name, codenames in wanted.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([by_codename[c] for c in codenames if c in by_codename])
