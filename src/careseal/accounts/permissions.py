"""Decide whether a staff account may send as an address."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from careseal.mail.addresses import domain_of


def allowed_sender(user: AbstractBaseUser, address: str) -> bool:
    """Return True if *user* may use *address* as envelope sender or ``From``.

    An account may always use its own address; ``SenderDomain`` rows widen
    that to whole domains. Comparison ignores case, as mailbox providers do,
    although RFC 5321 lets the local part be case-sensitive.
    """
    address = address.strip().lower()
    own = (getattr(user, "email", "") or "").strip().lower()
    if own and address == own:
        return True
    domain = domain_of(address)
    if not domain:
        return False
    return user.sender_domains.filter(domain=domain).exists()  # type: ignore[attr-defined]
