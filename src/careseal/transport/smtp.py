"""Deliver one message to one recipient over verified TLS, trying next hops in order.

Under the verified-TLS policy nothing is sent before a TLS 1.2+ handshake
whose certificate verified for the next hop's name. A hop without STARTTLS,
one that replies to STARTTLS with an error (a downgrade attack looks exactly
like that), or one with a bad certificate is skipped with its reason. There
is no plaintext fallback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from enum import StrEnum

import aiosmtplib
from aiosmtplib.email import quote_address

from careseal.transport.nexthop import NextHop
from careseal.transport.tls import TLSEvidence, evidence

VERIFIED = "verified"
UNVERIFIED = "unverified"
PLAIN = "plain"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    FAILED = "failed"


@dataclass(frozen=True)
class HopTry:
    """One connection to one address of a next hop, for the attempt's trace."""

    name: str
    address: str
    port: int
    source: str
    result: str
    tls: TLSEvidence | None = None
    cert_verified: bool | None = None
    verify_error: str = ""
    smtp_code: int | None = None
    smtp_reply: str = ""
    tls_level: str = VERIFIED  # what this connection required: verified, unverified or plain


@dataclass
class DeliveryResult:
    """The outcome of one delivery attempt and every hop it touched."""

    outcome: Outcome
    reason: str
    status_code: str  # RFC 3463 enhanced status, such as "4.7.5"
    hops: list[HopTry] = field(default_factory=list)
    mta_sts: str = ""  # the recipient domain's MTA-STS policy as applied, for the evidence

    @property
    def last(self) -> HopTry | None:
        return self.hops[-1] if self.hops else None


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope and content of one delivery."""

    sender: str
    recipient: str
    content: bytes
    smtputf8: bool = False
    body_8bit: bool = False


class _NextHop(Exception):
    """This hop cannot take the message securely; try the next one."""

    def __init__(self, reason: str, status: str, hop_try: HopTry) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.hop_try = hop_try


async def deliver(envelope: Envelope, hops: list[NextHop], *, context: ssl.SSLContext,
                  local_hostname: str, timeout: float, opportunistic: bool = False) -> DeliveryResult:
    """Try each address of each hop until one takes or refuses the message.

    With *opportunistic* (for mail without PHI only), a hop that fails
    verified TLS is tried again with unverified TLS, and one that offers no
    usable TLS at all gets the message in plain text.
    """
    tried: list[HopTry] = []
    last_reason, last_status = "no next hop", "4.4.4"
    levels = (VERIFIED, UNVERIFIED, PLAIN) if opportunistic else (VERIFIED,)
    for hop in hops:
        for address in hop.addresses:
            for level in levels:
                try:
                    return await _deliver_to(envelope, hop, address, context, local_hostname, timeout, tried,
                                             level)
                except _NextHop as skip:
                    tried.append(skip.hop_try)
                    last_reason, last_status = skip.reason, skip.status
                    if skip.status != "4.7.5":
                        break  # not a TLS problem: a lower TLS level cannot help with this address
    return DeliveryResult(Outcome.DEFERRED, last_reason, last_status, tried)


async def _deliver_to(envelope: Envelope, hop: NextHop, address: str, context: ssl.SSLContext,
                      local_hostname: str, timeout: float, tried: list[HopTry],
                      level: str = "verified") -> DeliveryResult:
    base = HopTry(name=hop.name, address=address, port=hop.port, source=hop.source, result="", tls_level=level)

    def skip(reason: str, status: str, **extra: object) -> _NextHop:
        return _NextHop(reason, status, _replace(base, result=reason, **extra))

    client = aiosmtplib.SMTP(hostname=address, port=hop.port, local_hostname=local_hostname,
                             start_tls=False, use_tls=False, timeout=timeout)
    try:
        try:
            await client.connect()
            await client.ehlo()
        except aiosmtplib.SMTPConnectResponseError as error:
            raise skip(f"greeting rejected: {error.code} {error.message}", "4.4.1",
                       smtp_code=error.code, smtp_reply=error.message) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            raise skip(f"connection failed: {_describe(error)}", "4.4.1") from None

        if level == PLAIN:
            return await _transaction(client, envelope, base, tried)
        if not client.supports_extension("starttls"):
            raise skip("next hop does not offer STARTTLS", "4.7.5")
        try:
            await client.starttls(server_hostname=hop.name,
                                  tls_context=context if level == VERIFIED else _unverified_context())
        except aiosmtplib.SMTPResponseException as error:
            raise skip(f"STARTTLS rejected: {error.code} {error.message}", "4.7.5",
                       smtp_code=error.code, smtp_reply=error.message) from None
        except (TimeoutError, ssl.SSLError, aiosmtplib.SMTPException, OSError) as error:
            verify = _verify_error_in(error)
            if verify:
                presented = await _probe_certificate(hop, address, local_hostname, timeout)
                raise skip(f"certificate verification failed: {verify}", "4.7.5",
                           cert_verified=False, verify_error=verify, tls=presented) from None
            if isinstance(error, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
                raise skip("TLS handshake timed out", "4.7.5") from None
            raise skip(f"TLS handshake failed: {_describe(error)}", "4.7.5") from None

        ssl_object = client.get_transport_info("ssl_object")
        tls = evidence(ssl_object)
        secured = _replace(base, tls=tls, cert_verified=level == VERIFIED)
        return await _transaction(client, envelope, secured, tried)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()


async def _probe_certificate(hop: NextHop, address: str, local_hostname: str,
                             timeout: float) -> TLSEvidence | None:
    """Return what certificate a hop that failed verification presents, for the evidence.

    A second connection runs EHLO and STARTTLS without verification and
    quits right after the handshake, before MAIL, so no part of the message
    ever crosses the unverified channel.
    """
    context = _unverified_context()
    client = aiosmtplib.SMTP(hostname=address, port=hop.port, local_hostname=local_hostname,
                             start_tls=False, use_tls=False, timeout=timeout)
    try:
        await client.connect()
        await client.starttls(server_hostname=hop.name, tls_context=context)
        return evidence(client.get_transport_info("ssl_object"))
    except (ssl.SSLError, aiosmtplib.SMTPException, OSError, TimeoutError):
        return None
    finally:
        client.close()


async def _transaction(client: aiosmtplib.SMTP, envelope: Envelope, secured: HopTry,
                       tried: list[HopTry]) -> DeliveryResult:
    """Run MAIL, RCPT and DATA over the verified channel; every reply here is final for this attempt."""

    def done(outcome: Outcome, reason: str, status: str, code: int | None, reply: str) -> DeliveryResult:
        tried.append(_replace(secured, result=reason, smtp_code=code, smtp_reply=reply))
        return DeliveryResult(outcome, reason, status, tried)

    try:
        await client.ehlo()
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
        return done(Outcome.DEFERRED, f"EHLO after STARTTLS failed: {_describe(error)}", "4.4.2", None, "")

    options: list[str] = []
    if envelope.smtputf8:
        if not client.supports_extension("smtputf8"):
            return done(Outcome.FAILED, "next hop lacks SMTPUTF8, which the message needs", "5.6.7", None, "")
        options.append("SMTPUTF8")
    if envelope.body_8bit:
        if not client.supports_extension("8bitmime"):
            return done(Outcome.FAILED, "next hop lacks 8BITMIME, which the message needs", "5.6.3", None, "")
        options.append("BODY=8BITMIME")
    if client.supports_extension("size"):
        options.append(f"SIZE={len(envelope.content)}")

    for address in (envelope.sender, envelope.recipient):
        if address and quote_address(address) != f"<{address}>":
            # aiosmtplib re-parses addresses; refuse rather than send RCPT for a different one.
            return done(Outcome.FAILED, "address cannot be sent unchanged in SMTP", "5.1.3", None, "")
    encoding = "utf-8" if envelope.smtputf8 else "ascii"

    stage = "MAIL"
    try:
        await client.mail(envelope.sender, options=options, encoding=encoding)
        stage = "RCPT"
        await client.rcpt(envelope.recipient, encoding=encoding)
        stage = "DATA"
        response = await client.data(envelope.content)
    except aiosmtplib.SMTPResponseException as error:
        permanent = 500 <= error.code < 600
        reason = f"{stage} rejected: {error.code} {error.message}"
        status = _enhanced(error.message) or ("5.0.0" if permanent else "4.0.0")
        return done(Outcome.FAILED if permanent else Outcome.DEFERRED, reason, status, error.code, error.message)
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
        return done(Outcome.DEFERRED, f"connection lost during {stage}: {_describe(error)}", "4.4.2", None, "")
    except (UnicodeError, ValueError) as error:
        return done(Outcome.FAILED, f"{stage} could not be encoded: {type(error).__name__}", "5.6.7", None, "")
    return done(Outcome.DELIVERED, f"accepted: {response.code} {response.message}", "2.0.0",
                response.code, response.message)


def _unverified_context() -> ssl.SSLContext:
    """Return a context that encrypts without checking the certificate, for mail without PHI."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _replace(hop_try: HopTry, **changes: object) -> HopTry:
    return replace(hop_try, **changes)  # type: ignore[arg-type]


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]


def _verify_error_in(error: BaseException) -> str:
    """Return the certificate verification message wrapped anywhere in *error*'s chain, or ""."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        seen = seen.__cause__ or seen.__context__
    return ""


def _enhanced(message: str) -> str:
    head = message.split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and head[0] in "245":
        return head
    return ""
