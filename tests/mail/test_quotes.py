import email
import email.policy

import pytest

from careseal.mail.quotes import quotes_original, split_reply

ORIGINAL = "Dear Pat,\n\nYour A1c was 7.9 and we will adjust metformin to 1000 mg.\n\nDr. Rivera\n"


def test_outlook_header_block_case(case: object) -> None:
    raw = case("reply-outlook-header-block.eml")  # type: ignore[operator]
    text = email.message_from_bytes(raw, policy=email.policy.default).get_content()

    new, quoted = split_reply(text)

    assert new == "Thanks, see you Tuesday."
    assert quoted.startswith("From: Dr. Rivera [mailto:rivera@clinic.example.test]")
    assert quotes_original(quoted, ORIGINAL)


@pytest.mark.parametrize(("text", "new"), [
    ("Sure.\n\nOn Mon, Mar 2, 2026 at 9:14 AM Dr. Rivera <r@c.test> wrote:\n> Your A1c was 7.9", "Sure."),
    ("Sure.\n\nOn Mon, Mar 2, 2026 at 9:14 AM Dr. Rivera <r@c.test>\nwrote:\n> text", "Sure."),
    ("Fine by me.\n-----Original Message-----\nFrom: x", "Fine by me."),
    ("Yes\n> quoted line", "Yes"),
    ("No quote at all.\n-- \nPat", "No quote at all."),
], ids=["gmail", "gmail-wrapped", "original-message", "angle", "signature-only"])
def test_reply_styles_split(text: str, new: str) -> None:
    assert split_reply(text)[0] == new


def test_unrelated_quote_not_original() -> None:
    assert not quotes_original("> Please bring your insurance card.", ORIGINAL)


def test_angle_quoted_original_found() -> None:
    assert quotes_original("> Your A1c was 7.9 and we will adjust metformin to 1000 mg.", ORIGINAL)
