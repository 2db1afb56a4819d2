"""Small secrets sealed for database storage."""

from __future__ import annotations

import base64

import pytest

from careseal.vault.secretbox import SealError, derive_key, open_text, seal_text

KEY = derive_key("instance secret for tests", "staff-totp")


def test_round_trip_hides_text() -> None:
    sealed = seal_text(KEY, "JBSWY3DPEHPK3PXP", "staff-totp:7")

    assert sealed.startswith("v1.")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert open_text(KEY, sealed, "staff-totp:7") == "JBSWY3DPEHPK3PXP"


def test_each_seal_differs() -> None:
    assert seal_text(KEY, "same", "c") != seal_text(KEY, "same", "c")


@pytest.mark.parametrize(("key", "context"), [
    pytest.param(derive_key("another instance secret", "staff-totp"), "staff-totp:7", id="other-instance"),
    pytest.param(derive_key("instance secret for tests", "other-purpose"), "staff-totp:7", id="other-purpose"),
    pytest.param(KEY, "staff-totp:8", id="other-row"),
])
def test_wrong_key_or_context_rejected(key: bytes, context: str) -> None:
    sealed = seal_text(KEY, "JBSWY3DPEHPK3PXP", "staff-totp:7")

    with pytest.raises(SealError):
        open_text(key, sealed, context)


@pytest.mark.parametrize("sealed", ["JBSWY3DPEHPK3PXP", "v1.", "v1.!!!", "v1.AAAA", ""])
def test_malformed_values_rejected(sealed: str) -> None:
    with pytest.raises(SealError):
        open_text(KEY, sealed, "staff-totp:7")


def test_altered_ciphertext_rejected() -> None:
    sealed = seal_text(KEY, "JBSWY3DPEHPK3PXP", "staff-totp:7")
    # Flip a bit of the decoded bytes: changing a base64 character may touch only padding bits.
    raw = bytearray(base64.urlsafe_b64decode(sealed[len("v1."):]))
    raw[-1] ^= 0x01
    altered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()

    with pytest.raises(SealError):
        open_text(KEY, altered, "staff-totp:7")
