import email
import email.policy

from careseal.mail.lines import fold_long_lines, longest_line


def test_short_lines_keep_bytes() -> None:
    raw = b"From: a@b.test\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 998 + b"\r\n"

    assert fold_long_lines(raw) is raw


def test_long_text_line_becomes_quoted_printable(case: object) -> None:
    raw = case("long-line-utf8.eml")  # type: ignore[operator]

    result = fold_long_lines(raw)

    parsed = email.message_from_bytes(result, policy=email.policy.default)
    original = email.message_from_bytes(raw, policy=email.policy.default)
    assert longest_line(raw) > 998
    assert longest_line(result) <= 998
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content() == original.get_content()


def test_long_binary_part_becomes_base64() -> None:
    payload = bytes(range(256)) * 8
    raw = (b"From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
           + payload.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n--b--\r\n")

    result = fold_long_lines(raw)

    parsed = email.message_from_bytes(result, policy=email.policy.default)
    attachment = list(parsed.iter_parts())[1]
    assert longest_line(result) <= 998
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert list(parsed.iter_parts())[0].get_content() == "short"  # the CRLF before a boundary belongs to it


def test_reencoding_adds_mime_version() -> None:
    raw = b"From: a@b.test\r\nSubject: s\r\n\r\n" + b"y" * 1200 + b"\r\n"

    result = fold_long_lines(raw)

    parsed = email.message_from_bytes(result, policy=email.policy.default)
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().replace("\r\n", "\n") == "y" * 1200 + "\n"
