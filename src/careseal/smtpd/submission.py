"""The submission server (RFC 6409) on which clinic staff and systems hand mail to CareSeal.

Rules of this port:

* STARTTLS before anything else (RFC 3207 section 4 allows a submission
  server to require it). aiosmtpd 1.4.6 and newer discard what a client
  pipelined before the handshake.
* AUTH PLAIN or LOGIN against staff accounts before MAIL, so nothing is
  relayed for an unauthenticated client.
* An account sends only as its own address or its allowed domains, in the
  envelope sender and in ``From``.
* The reply 250 to DATA follows only the durable commit of the sealed
  message and its delivery rows (see careseal.queue.store.accept).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import ssl
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from django.contrib.auth import authenticate, get_user_model
from django.db import close_old_connections

from careseal.accounts.permissions import allowed_sender
from careseal.audit import trail as audit
from careseal.config import Config
from careseal.mail.access_code import AccessCodeError, take_access_code
from careseal.mail.addresses import mailbox_problem
from careseal.mail.fields import HeaderError, author_addresses
from careseal.mail.headers import add_submission_headers, normalize_line_endings, received_header, split_message
from careseal.mail.lines import fold_long_lines
from careseal.mail.subject import strip_keyword, subject_text
from careseal.policy.decision import subject_looks_like_phi
from careseal.queue import store
from careseal.queue.models import new_queue_id
from careseal.queue.vault import blob_store, hash_access_code, loggable
from careseal.rules import service as rules
from careseal.vault.blobstore import StorageError, StorageFull

log = logging.getLogger("careseal.submission")

MAX_AUTH_FAILURES = 3
AUTH_FAILURE_DELAY = 1.0


@dataclass(frozen=True)
class StaffIdentity:
    """The account a session authenticated as."""

    user_id: int


@dataclass(frozen=True)
class _Pending:
    mechanism: str
    credentials: LoginPassword


class SubmissionSMTP(SMTP):
    """aiosmtpd's SMTP with credential checks off the event loop and a cap on failed AUTH."""

    # Accept DATA lines longer than RFC 5321's 1000 octets; careseal.mail.lines
    # re-encodes them before delivery. Command lines keep aiosmtpd's own limit.
    line_length_limit = 64 * 1024

    def __init__(self, handler: SubmissionHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.handler_ref = handler
        self.auth_failures = 0
        # aiosmtpd keeps these limits in a class-level dict; give this session
        # its own, with room for the 12288-octet AUTH line of RFC 4954 section 4.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        self.command_size_limits["AUTH"] = 12288

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd calls this synchronously from its auth_PLAIN and auth_LOGIN
        # after decoding; hand the credentials back so they are checked off the loop.
        return AuthResult(success=False, handled=False, auth_data=_Pending(mechanism, auth_data))

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:  # noqa: N802 (aiosmtpd naming)
        """Decode RFC 4616 PLAIN; an authorization identity other than the login is refused."""
        if len(args) == 1:
            response = await self.challenge_auth("")
            if response is MISSING:
                return AuthResult(success=False)
        else:
            try:
                response = base64.b64decode(args[1].encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                await self.push("501 5.5.2 Cannot decode the base64 response")
                return AuthResult(success=False, handled=True)
        parts = bytes(response).split(b"\0")
        if len(parts) != 3:
            await self.push("501 5.5.2 Expected authorization identity, login and password")
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:
            log.warning("auth rejected: authorization identity differs from the login")
            return await self._check(AuthResult(success=False, auth_data=_Pending("PLAIN", LoginPassword(b"", b""))))
        return await self._check(AuthResult(success=False, auth_data=_Pending("PLAIN", LoginPassword(login, password))))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:  # noqa: N802 (aiosmtpd naming)
        return await self._check(await super().auth_LOGIN(_, args))

    async def _check(self, result: AuthResult) -> AuthResult:
        pending = result.auth_data
        if not isinstance(pending, _Pending):
            return result
        login = pending.credentials.login.decode("utf-8", "replace").strip().lower()
        password = pending.credentials.password.decode("utf-8", "replace")
        peer = self.session.peer[0] if self.session and isinstance(self.session.peer, tuple) else "-"
        limiter = self.handler_ref.login_limiter
        if limiter.blocked(login, peer):
            log.warning("auth throttled login=%s peer=%s", loggable(login), peer)
            await self.push("454 4.7.0 Too many failed logins; try again later")
            return AuthResult(success=False, handled=True)
        user_id = await self.handler_ref.run_db(_authenticate_staff, login, password)
        if user_id is not None:
            log.info("auth succeeded user_id=%d mechanism=%s", user_id, pending.mechanism)
            return AuthResult(success=True, auth_data=StaffIdentity(user_id))

        self.auth_failures += 1
        limiter.record_failure(login, peer)
        await self.handler_ref.run_db(_audit_auth_failure, login, peer)
        log.warning("auth failed mechanism=%s login=%s failures=%d peer=%s", pending.mechanism, loggable(login),
                    self.auth_failures, peer)
        await asyncio.sleep(AUTH_FAILURE_DELAY)
        if self.auth_failures >= MAX_AUTH_FAILURES:
            await self.push("421 4.7.0 Too many failed authentication attempts; closing connection")
            self.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)


def _authenticate_staff(login: str, password: str) -> int | None:
    close_old_connections()
    # Logins are stored lower-case, so matching ignores case as mail addresses do.
    user = authenticate(username=login.lower(), password=password)
    if user is None or not user.is_active or not user.is_staff:
        return None
    return int(user.pk)


def _audit_auth_failure(login: str, peer: str) -> None:
    close_old_connections()
    audit.record("staff.auth_failed", actor=f"login:{loggable(login)}", data={"peer": peer, "port": "submission"})


def _may_send_as(user_id: int, addresses: list[str]) -> bool:
    close_old_connections()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user is not None and all(allowed_sender(user, address) for address in addresses)


class AuthLimiter:
    """Failed logins per login name and per client address in a sliding window, for this process.

    A login with 10 failures, or an address with 30, within 15 minutes gets
    454 without a password check until its failures age out.
    """

    WINDOW = 15 * 60.0
    PER_LOGIN = 10
    PER_PEER = 30

    def __init__(self) -> None:
        self._failures: dict[str, collections.deque[float]] = {}

    def blocked(self, login: str, peer: str) -> bool:
        return (self._count(f"login:{login}") >= self.PER_LOGIN
                or self._count(f"peer:{peer}") >= self.PER_PEER)

    def record_failure(self, login: str, peer: str) -> None:
        now = time.monotonic()
        for key in (f"login:{login}", f"peer:{peer}"):
            self._failures.setdefault(key, collections.deque()).append(now)
        if len(self._failures) > 100_000:
            self._failures.clear()  # bound memory under a flood; the limits restart

    def _count(self, key: str) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        cutoff = time.monotonic() - self.WINDOW
        while times and times[0] < cutoff:
            times.popleft()
        return len(times)


class SubmissionHandler:
    """aiosmtpd hooks for MAIL, RCPT and DATA on the submission port."""

    def __init__(self, config: Config, executor: Executor) -> None:
        self.config = config
        self.executor = executor
        # Not named auth_*: aiosmtpd takes every auth_* attribute of a handler as a mechanism.
        self.login_limiter = AuthLimiter()

    async def run_db(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        # aiosmtpd reads pipelined commands in order (RFC 2920) but does not say so.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, mail_options: list[str]) -> str:
        identity = session.auth_data
        if not isinstance(identity, StaffIdentity):
            return "530 5.7.0 Authentication required"
        if not address:
            return "553 5.7.1 The null sender is not accepted on the submission port"
        problem = mailbox_problem(address, utf8=any(o.upper() == "SMTPUTF8" for o in mail_options))
        if problem:
            return f"553 5.1.7 Invalid sender address: {problem}"
        if not await self.run_db(_may_send_as, identity.user_id, [address]):
            log.warning("sender rejected user_id=%d sender=%s", identity.user_id, loggable(address))
            return "553 5.7.1 Sender address not allowed for this account"

        declared = _declared_size(mail_options)
        try:
            await self.run_db(lambda: blob_store().check_space(declared))
        except StorageFull:
            log.error("rejected MAIL: storage below its reserve user_id=%d", identity.user_id)
            return "452 4.3.1 Insufficient system storage; try again later"
        except StorageError:
            log.exception("storage check failed")
            return "451 4.3.0 Temporary storage failure; try again later"

        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.submission.max_recipients:
            return "452 4.5.3 Too many recipients"
        problem = mailbox_problem(address, utf8=envelope.smtp_utf8)
        if problem == "a non-ASCII address needs SMTPUTF8":
            return "553 5.6.7 A non-ASCII address needs SMTPUTF8 on MAIL"
        if problem:
            return f"553 5.1.3 Invalid recipient address: {problem}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        identity = session.auth_data
        assert isinstance(identity, StaffIdentity)
        raw = normalize_line_endings(bytes(envelope.original_content or b""))

        header_block, _ = split_message(raw)
        try:
            authors = author_addresses(header_block)
        except HeaderError as error:
            return f"550 5.6.0 Malformed header: {error}"
        author_list = [address for addresses in authors.values() for address in addresses]
        if not await self.run_db(_may_send_as, identity.user_id, author_list):
            log.warning("author field rejected user_id=%d", identity.user_id)
            return "550 5.7.1 From, Sender or Resent-From address not allowed for this account"

        try:
            raw, access_code = take_access_code(raw)
        except (AccessCodeError, HeaderError) as error:
            return f"550 5.6.0 {error}"
        queue_id = new_queue_id()
        raw, keyword = strip_keyword(raw, self.config.escrow.secure_keyword)
        subject = subject_text(raw)
        chosen = await self.run_db(_decisions, envelope.mail_from, list(envelope.rcpt_tos), subject, keyword,
                                   identity.user_id)
        raw = fold_long_lines(raw)
        raw, message_id = add_submission_headers(raw, hostname=self.config.hostname, received=_received(
            server, session, self.config.hostname, queue_id))
        if not message_id:
            message_id = _existing_message_id(header_block)

        mail_options = [option.upper() for option in envelope.mail_options]
        submission = store.Submission(
            content=raw,
            envelope_sender=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            submitted_by_id=identity.user_id,
            message_id=message_id,
            # RFC 6532: raw UTF-8 in headers needs SMTPUTF8 at the next hop too.
            smtputf8="SMTPUTF8" in mail_options or not envelope.mail_from.isascii()
            or not all(r.isascii() for r in envelope.rcpt_tos) or not header_block.isascii(),
            body_8bit="BODY=8BITMIME" in mail_options or not raw.isascii(),
            queue_id=queue_id,
            decisions={recipient: (d.policy, d.reasons) for recipient, d in chosen.items()},
            subject_is_phi=subject_looks_like_phi(subject, self.config.policy.phi_patterns,
                                                  self.config.policy.drug_names),
            access_code_hash=hash_access_code(access_code) if access_code else "",
        )
        try:
            await self.run_db(_accept, submission)
        except StorageFull:
            log.error("message not stored: storage full queue_id=%s", queue_id)
            return "452 4.3.1 Insufficient system storage; message not accepted, try again later"
        except Exception:
            log.exception("message not stored queue_id=%s", queue_id)
            return "451 4.3.0 Message not stored because of a local error; try again later"
        return f"250 2.0.0 Ok: queued as {queue_id}"


def _decisions(sender: str, recipients: list[str], subject: str, keyword: bool, user_id: int) -> dict[str, Any]:
    close_old_connections()
    return rules.decisions(sender=sender, recipients=recipients, subject=subject, secure_keyword=keyword,
                           submitted_by_id=user_id)


def _accept(submission: store.Submission) -> None:
    close_old_connections()
    store.accept(submission)


def _declared_size(mail_options: list[str]) -> int:
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def _existing_message_id(header_block: bytes) -> str:
    for line in header_block.split(b"\r\n"):
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")
    return ""


def _received(server: SMTP, session: Session, hostname: str, queue_id: str) -> str:
    ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
    tls = "no TLS"
    if ssl_object is not None:
        cipher = ssl_object.cipher()
        tls = f"version={ssl_object.version()} cipher={cipher[0] if cipher else 'unknown'}"
    protocol = "ESMTPSA" if ssl_object is not None else "ESMTPA"
    if any(option.upper() == "SMTPUTF8" for option in session_options(server)):
        protocol = "UTF8SMTPSA"
    peer = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
    return received_header(helo=session.host_name or "unknown", peer_ip=str(peer), hostname=hostname,
                           protocol=protocol, tls=tls, queue_id=queue_id)


def session_options(server: SMTP) -> list[str]:
    envelope = server.envelope
    return list(envelope.mail_options) if envelope is not None else []


def server_context(config: Config) -> ssl.SSLContext:
    """Return the submission port's TLS context: the configured certificate, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(config.submission.tls_cert), str(config.submission.tls_key))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def start(config: Config, executor: Executor) -> asyncio.Server:
    """Listen on ``[submission] listen`` and return the running server."""
    handler = SubmissionHandler(config, executor)
    context = server_context(config)

    def factory() -> SubmissionSMTP:
        return SubmissionSMTP(
            handler,
            hostname=config.hostname,
            ident="CareSeal ESMTP",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=[],
            data_size_limit=config.submission.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=300,
        )

    listen = config.submission.listen
    server = await asyncio.get_running_loop().create_server(factory, host=listen.host, port=listen.port)
    log.info("submission listening on %s", listen)
    return server

