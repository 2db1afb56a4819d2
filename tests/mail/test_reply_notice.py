import email
import email.policy

from careseal.mail.lines import longest_line
from careseal.mail.reply_notice import add_reply_notice

TEXT = "Replies by email may not be private. Reply securely: https://gateway.test/r/abc"
HTML = '<p>Replies by email may not be private. <a href="https://gateway.test/r/abc">Reply securely</a></p>'

SIGNED = (b"From: a@clinic.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
          b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"\r\n'
          b"\r\n--sig\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n"
          b"--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n"
          b"\r\nMIIBsignaturebytes==\r\n--sig--\r\n")

ALTERNATIVE = (b"From: a@clinic.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
               b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
               b"--alt\r\nContent-Type: text/plain\r\n\r\nplain body\r\n"
               b"--alt\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--alt--\r\n")


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_signed_entity_kept_byte_for_byte() -> None:
    result = add_reply_notice(SIGNED, TEXT, HTML)

    signed_body = SIGNED.split(b"\r\n\r\n", 1)[1]
    assert signed_body in result
    assert list(parse(result).iter_parts())[1].get_content_type() == "multipart/signed"


def test_notice_in_text_and_html() -> None:
    parsed = parse(add_reply_notice(ALTERNATIVE, TEXT, HTML))

    notice = list(parsed.iter_parts())[0]
    assert notice.get_content_type() == "multipart/alternative"
    assert notice.get_body(("plain",)).get_content().strip() == TEXT  # type: ignore[union-attr]
    assert "Reply securely</a>" in notice.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_original_alternatives_intact() -> None:
    parsed = parse(add_reply_notice(ALTERNATIVE, TEXT, HTML))

    original = list(parsed.iter_parts())[1]
    assert original.get_body(("plain",)).get_content().strip() == "plain body"  # type: ignore[union-attr]
    assert original.get_body(("html",)).get_content().strip() == "<p>html body</p>"  # type: ignore[union-attr]


def test_outer_headers_kept_once() -> None:
    parsed = parse(add_reply_notice(ALTERNATIVE, TEXT, HTML))

    assert parsed["Subject"] == "s"
    assert len(parsed.get_all("MIME-Version")) == 1
    assert parsed.get_content_type() == "multipart/mixed"


def test_no_line_over_998(case: object) -> None:
    raw = case("long-line-utf8.eml")  # type: ignore[operator]
    from careseal.mail.lines import fold_long_lines

    assert longest_line(add_reply_notice(fold_long_lines(raw), TEXT * 20, HTML * 20)) <= 998


def test_plain_message_without_mime_headers() -> None:
    parsed = parse(add_reply_notice(b"From: a@clinic.test\r\nSubject: s\r\n\r\nhello\r\n", TEXT, HTML))

    assert list(parsed.iter_parts())[1].get_content().strip() == "hello"
