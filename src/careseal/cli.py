"""The ``careseal`` command."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from careseal import config as careseal_config


class CommandError(Exception):
    """Invalid input to a command. The message names what to fix."""


def _end_sessions(user_id: int) -> int:
    """Delete every session of *user_id*, complete or only past the password step; return how many."""
    from django.contrib.sessions.models import Session

    from careseal.console.auth import SESSION_PENDING

    ended = 0
    for session in Session.objects.all().iterator():
        data = session.get_decoded()
        pending = data.get(SESSION_PENDING)
        if str(data.get("_auth_user_id", "")) == str(user_id) or (
                isinstance(pending, dict) and pending.get("id") == user_id):
            session.delete()
            ended += 1
    return ended


EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, worth retrying


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except careseal_config.ConfigError as error:
        print(f"careseal: invalid configuration: {error}", file=sys.stderr)
        return 78  # EX_CONFIG
    except CommandError as error:
        print(f"careseal: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careseal", description="Secure email gateway for clinics.")
    parser.add_argument("--config", help="configuration file (default: $CARESEAL_CONFIG, then ./careseal.toml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="create a new instance in a folder")
    init.add_argument("--dir", required=True, type=Path, help="folder for configuration, keys and data")
    init.add_argument("--hostname", required=True, help="the gateway's host name (EHLO name and MX domain)")
    init.add_argument("--admin-email", required=True, help="address of the first staff account")
    init.add_argument("--admin-password", help="its password (default: generate one and print it once)")
    init.add_argument("--submission-listen", default="0.0.0.0:587", help="address:port of the submission port")
    init.add_argument("--mx-listen", default="0.0.0.0:25", help="address:port of the inbound MX")
    init.add_argument("--web-listen", default="127.0.0.1:8025", help="address:port of the web process")
    init.add_argument("--database-url", default="sqlite:careseal.db", help="database URL written to the file")
    init.add_argument("--practice-name", default="", help="name shown to patients (default: the host name)")
    init.add_argument("--public-url", default="", help="address of the web pages (default: https://HOSTNAME)")
    init.set_defaults(handler=_init)

    run = commands.add_parser("run", help="run the gateway in the foreground")
    run.add_argument("--role", choices=("all", "submission", "mx", "web", "worker"), default="all",
                     help="which part to run (default: all, each in its own process)")
    run.set_defaults(handler=_run)

    send = commands.add_parser("send", help="queue a message from a file or standard input, like sendmail")
    send.add_argument("--from", dest="sender", required=True, help="envelope sender address")
    send.add_argument("--to", dest="recipients", required=True, action="append", help="recipient (repeatable)")
    send.add_argument("file", nargs="?", type=Path, help="message file (default: standard input)")
    send.set_defaults(handler=_send)

    queue = commands.add_parser("queue", help="inspect the queue")
    queue_commands = queue.add_subparsers(dest="queue_command", required=True, metavar="SUBCOMMAND")
    listing = queue_commands.add_parser("list", help="list deliveries not yet finished")
    listing.add_argument("--json", action="store_true", help="print JSON with every attempt's evidence")
    listing.add_argument("--all", action="store_true", help="include delivered and failed deliveries")
    listing.set_defaults(handler=_queue_list)

    policy = commands.add_parser("policy", help="inspect delivery policy")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    explain = policy_commands.add_parser("explain", help="print the decision for a message and why, sending nothing")
    explain.add_argument("--from", dest="sender", required=True, help="envelope sender address")
    explain.add_argument("--to", dest="recipients", required=True, action="append", help="recipient (repeatable)")
    explain.add_argument("file", nargs="?", type=Path, help="the message, for its subject (optional)")
    explain.set_defaults(handler=_policy_explain)

    keys = commands.add_parser("keys", help="manage key-encryption keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND")
    rotate = keys_commands.add_parser("rotate", help="add a new key-encryption key and re-wrap every data key")
    rotate.set_defaults(handler=_keys_rotate)

    storage = commands.add_parser("storage", help="move sealed content between storage back ends")
    storage_commands = storage.add_subparsers(dest="storage_command", required=True, metavar="SUBCOMMAND")
    copy = storage_commands.add_parser(
        "copy", help="copy every blob still needed from the storage of another configuration file into this one's")
    copy.add_argument("--from-config", type=Path, required=True, metavar="FILE",
                      help="the configuration before the change; only its [storage] table is read")
    copy.set_defaults(handler=_storage_copy)

    escrow = commands.add_parser("escrow", help="list, recall or extend escrowed messages")
    escrow_commands = escrow.add_subparsers(dest="escrow_command", required=True, metavar="SUBCOMMAND")
    escrow_list = escrow_commands.add_parser("list", help="list escrowed messages")
    escrow_list.add_argument("--json", action="store_true", help="print JSON")
    recall = escrow_commands.add_parser("recall", help="withdraw an escrowed message so the portal no longer shows it")
    recall.add_argument("queue_id", help="queue id of the message")
    recall.add_argument("--recipient", help="only this recipient (default: every recipient)")
    extend = escrow_commands.add_parser("extend", help="move an escrowed message's expiry later")
    extend.add_argument("queue_id", help="queue id of the message")
    extend.add_argument("--days", type=int, required=True, help="days to add, 1 to 365")
    for sub, handler in ((escrow_list, "list"), (recall, "recall"), (extend, "extend")):
        sub.set_defaults(handler=_escrow_command, action=handler)

    audit = commands.add_parser("audit", help="check or export the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    audit_verify = audit_commands.add_parser("verify", help="check the hash chain; name the first bad event")
    audit_verify.set_defaults(handler=_audit_verify)
    audit_export = audit_commands.add_parser("export", help="write the events and a signed checkpoint to a folder")
    audit_export.add_argument("--out", type=Path, required=True, help="folder to write")
    audit_export.set_defaults(handler=_audit_export)
    audit_prune = audit_commands.add_parser("prune", help="remove events older than audit.retention behind an anchor")
    audit_prune.set_defaults(handler=_audit_prune)
    audit_check = audit_commands.add_parser("verify-export", help="check an exported copy with the public key only")
    audit_check.add_argument("folder", type=Path, help="folder written by 'careseal audit export'")
    audit_check.add_argument("--public-key", help="base64 Ed25519 public key (default: public_key.txt in the folder)")
    audit_check.set_defaults(handler=_audit_verify_export)

    report = commands.add_parser("report", help="produce reports")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="SUBCOMMAND")
    risk = report_commands.add_parser("risk", help="the email risk report for a HIPAA risk assessment")
    risk.add_argument("--from", dest="start", required=True, type=_date, help="first day, YYYY-MM-DD (UTC)")
    risk.add_argument("--to", dest="end", required=True, type=_date, help="day after the last, YYYY-MM-DD (UTC)")
    risk.add_argument("--format", choices=("html", "pdf", "csv"), required=True, help="output format")
    risk.add_argument("--out", type=Path, required=True, help="file to write")
    risk.set_defaults(handler=_report_risk)

    staff = commands.add_parser("staff", help="manage staff accounts")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True, metavar="SUBCOMMAND")
    add = staff_commands.add_parser("add", help="create a staff account that may submit mail")
    add.add_argument("email", help="the account's address, also its login name")
    add.add_argument("--password", help="its password (default: generate one and print it once)")
    add.add_argument("--sender-domain", action="append", default=[],
                     help="a domain whose every address the account may send as (repeatable)")
    add.add_argument("--role", choices=("staff", "auditor", "administrator"), default="staff",
                     help="console role (default: staff)")
    add.set_defaults(handler=_staff_add)
    reset = staff_commands.add_parser(
        "reset-second-factor",
        help="remove an account's TOTP key and passkeys, so its next sign-in enrolls a new key")
    reset.add_argument("email", help="the account's address")
    reset.set_defaults(handler=_staff_reset_second_factor)
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}; write YYYY-MM-DD") from None


def _report_risk(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.reports import risk

    if args.end <= args.start:
        raise CommandError("--to must be after --from")
    report = risk.compute(args.start, args.end)
    if args.format == "pdf":
        args.out.write_bytes(risk.render_pdf(report))
    elif args.format == "csv":
        args.out.write_text(risk.render_csv(report), encoding="utf-8")
    else:
        args.out.write_text(risk.render_html(report), encoding="utf-8")
    print(f"Wrote {args.out}")
    return 0


def _setup_django(args: argparse.Namespace) -> careseal_config.Config:
    """Load the configuration (raising ConfigError), point Django at it and set up logging."""
    path = careseal_config.find_config_path(args.config)
    config = careseal_config.load(path)
    os.environ["CARESEAL_CONFIG"] = str(path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careseal.settings")
    import django

    django.setup()
    return config


def _init(args: argparse.Namespace) -> int:
    from careseal import instance

    password = args.admin_password
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    options = instance.InitOptions(
        directory=args.dir, hostname=args.hostname, admin_email=args.admin_email, admin_password=password,
        submission_listen=args.submission_listen, mx_listen=args.mx_listen, web_listen=args.web_listen,
        database_url=args.database_url, practice_name=args.practice_name, public_url=args.public_url,
    )
    try:
        config_path = instance.write_files(options)
    except FileExistsError as error:
        print(f"careseal: {error}", file=sys.stderr)
        return 1
    args.config = str(config_path)
    _setup_django(args)

    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    admin = _create_staff(args.admin_email, password, superuser=True, domains=[])
    from django.contrib.auth.models import Group

    from careseal.console.roles import ADMINISTRATORS

    admin.groups.add(Group.objects.get(name=ADMINISTRATORS))
    print(f"Created instance at {config_path.parent}")
    print(f"  configuration: {config_path}")
    print(f"  staff account: {args.admin_email}")
    if generated:
        print(f"  password (shown once): {password}")
    dkim_key = (config_path.parent / "keys" / "dkim.key").read_bytes()
    print(f"Publish this DNS TXT record so receivers can check pickup notices:\n"
          f"  careseal._domainkey.{args.hostname}  TXT  \"{instance.dkim_dns_record(dkim_key)}\"")
    command = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "careseal" else "careseal"
    print(f"To start it later: {command} --config {config_path} run")
    return 0


def _create_staff(email: str, password: str, *, superuser: bool, domains: list[str]) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from careseal.accounts.models import SenderDomain
    from careseal.mail.addresses import mailbox_problem

    email = email.strip().lower()
    problem = mailbox_problem(email)
    if problem:
        raise CommandError(f"invalid staff address {email!r}: {problem}")
    domains = [domain.strip().lower().rstrip(".") for domain in domains]
    for domain in domains:
        if not careseal_config.is_hostname(domain):
            raise CommandError(f"invalid sender domain {domain!r}: expected a host name such as clinic.example")
    user_model = get_user_model()
    try:
        validate_password(password, user_model(username=email, email=email))
    except ValidationError as error:
        raise CommandError("password rejected: " + " ".join(error.messages)) from None
    if user_model.objects.filter(username__iexact=email).exists():
        raise CommandError(f"a staff account {email} already exists")
    user = user_model.objects.create_user(username=email, email=email, password=password,
                                          is_staff=True, is_superuser=superuser)
    for domain in domains:
        SenderDomain.objects.create(user=user, domain=domain)
    return user


def _run(args: argparse.Namespace) -> int:
    config = _setup_django(args)
    from careseal import logs, roles

    logs.configure(config.logging.level, config.logging.format, args.role)
    if args.role == "all":
        from django.core.management import call_command

        # Apply migrations a new version brings before any role touches the database.
        call_command("migrate", interactive=False, verbosity=0)
        _audit_config(config.path)
        return roles.supervise(config.path)
    return roles.run_role(args.role)


def _audit_config(path: Path) -> None:
    """Record the configuration's hash at start-up, noting whether it changed since the last start."""
    import hashlib

    from careseal.audit import trail
    from careseal.audit.models import AuditEvent

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    last = AuditEvent.objects.filter(kind="config.loaded").order_by("-seq").first()
    changed = last is not None and last.data.get("sha256") != digest
    trail.record("config.loaded", actor="operator", data={"sha256": digest, "changed": changed})


def _send(args: argparse.Namespace) -> int:
    config = _setup_django(args)
    from careseal.mail.access_code import AccessCodeError, take_access_code
    from careseal.mail.addresses import mailbox_problem
    from careseal.mail.fields import HeaderError, author_addresses
    from careseal.mail.headers import add_submission_headers, normalize_line_endings, received_header, split_message
    from careseal.mail.lines import fold_long_lines
    from careseal.mail.subject import strip_keyword, subject_text
    from careseal.policy.decision import subject_looks_like_phi
    from careseal.queue import store
    from careseal.queue.models import new_queue_id
    from careseal.queue.vault import hash_access_code
    from careseal.rules import service as rules

    for address in [args.sender, *args.recipients]:
        problem = mailbox_problem(address, utf8=True)
        if problem:
            raise CommandError(f"invalid address {address!r}: {problem}")
    raw = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
    if len(raw) > config.submission.max_message_size:
        raise CommandError(f"message is {len(raw)} bytes; submission.max_message_size is "
                           f"{config.submission.max_message_size}")
    raw = normalize_line_endings(raw)
    header_block, _ = split_message(raw)
    try:
        author_addresses(header_block)
    except HeaderError as error:
        raise CommandError(f"not a mail message: {error}") from None
    try:
        raw, access_code = take_access_code(raw)
    except AccessCodeError as error:
        raise CommandError(str(error)) from None
    queue_id = new_queue_id()
    raw, keyword = strip_keyword(raw, config.escrow.secure_keyword)
    subject = subject_text(raw)
    chosen = rules.decisions(sender=args.sender, recipients=args.recipients, subject=subject,
                             secure_keyword=keyword)
    raw = fold_long_lines(raw)
    raw, message_id = add_submission_headers(raw, hostname=config.hostname, received=received_header(
        helo="localhost", peer_ip="127.0.0.1", hostname=config.hostname, protocol="local",
        tls="careseal send", queue_id=queue_id))
    from careseal.vault.blobstore import StorageError

    try:
        store.accept(store.Submission(
            content=raw, envelope_sender=args.sender, recipients=args.recipients, message_id=message_id,
            smtputf8=not all(a.isascii() for a in [args.sender, *args.recipients]),
            body_8bit=not raw.isascii(), queue_id=queue_id,
            decisions={recipient: (d.policy, d.reasons) for recipient, d in chosen.items()},
            subject_is_phi=subject_looks_like_phi(subject, config.policy.phi_patterns, config.policy.drug_names),
            access_code_hash=hash_access_code(access_code) if access_code else "",
        ))
    except StorageError as error:
        # As sendmail does for a temporary failure, so scripts know to try again later.
        print(f"careseal: message not queued, try again later: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    print(queue_id)
    return 0


def _queue_list(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.queue.listing import deliveries, format_table

    rows = deliveries(include_finished=args.all)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(rows))
    return 0


def _policy_explain(args: argparse.Namespace) -> int:
    config = _setup_django(args)
    from careseal.mail.headers import normalize_line_endings
    from careseal.mail.subject import strip_keyword, subject_text
    from careseal.policy.decision import subject_looks_like_phi
    from careseal.rules import service as rules

    raw = normalize_line_endings(args.file.read_bytes()) if args.file else b""
    raw, keyword = strip_keyword(raw, config.escrow.secure_keyword)
    subject = subject_text(raw)
    chosen = rules.decisions(sender=args.sender, recipients=args.recipients, subject=subject,
                             secure_keyword=keyword)
    if subject_looks_like_phi(subject, config.policy.phi_patterns, config.policy.drug_names):
        print("The subject looks like PHI: it is kept out of pickup notices and DSNs.")
    for recipient, decision in chosen.items():
        print(f"{recipient}: {decision.policy}")
        for reason in decision.reasons:
            print(f"  - {reason}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.queue.keys import rotate

    new_id, count = rotate()
    print(f"Activated {new_id}; re-wrapped {count} data keys. Older keys stay in the key folder; "
          f"keep them until every backup made before today has expired.")
    return 0


def _storage_copy(args: argparse.Namespace) -> int:
    _setup_django(args)
    from django.conf import settings

    from careseal.queue.storage_copy import copy_blobs, needed_blobs
    from careseal.queue.vault import blob_store, open_store
    from careseal.vault.blobstore import StorageError

    target = settings.CARESEAL.storage
    source_config = careseal_config.load_storage(args.from_config)
    if source_config == target:
        raise CommandError(f"{args.from_config} and the current configuration name the same storage "
                           f"({target.url}); nothing to copy")
    try:
        report = copy_blobs(open_store(source_config), blob_store(), needed_blobs())
    except StorageError as error:
        raise CommandError(f"copy failed; run it again once the fault is fixed: {error}") from None
    print(f"Copied {report.copied} blobs to {target.url}; {report.present} were already there.")
    for name in report.missing:
        print(f"  missing from both: {name}", file=sys.stderr)
    for name in report.conflicting:
        print(f"  differs between the two, left as it is: {name}", file=sys.stderr)
    return 0 if report.complete else 1


def _escrow_command(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.escrow import lifecycle

    if args.action == "list":
        rows = lifecycle.listing()
        if args.json:
            json.dump(rows, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(lifecycle.format_table(rows))
        return 0
    if args.action == "recall":
        count = lifecycle.recall(args.queue_id, args.recipient)
    else:
        if not 1 <= args.days <= 365:
            raise CommandError("--days must be between 1 and 365")
        count = lifecycle.extend(args.queue_id, args.days)
    if count == 0:
        raise CommandError(f"no active escrow for queue id {args.queue_id}")
    print(f"{args.action}: {count} escrowed message(s) changed")
    if args.action == "recall" and lifecycle.content_stored(args.queue_id):
        print(f"recall: the content of {args.queue_id} is still stored (storage fault, or another recipient "
              "still needs it); removal is retried every minute while the worker runs", file=sys.stderr)
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.audit import trail

    count, problem = trail.verify()
    if problem:
        print(f"careseal: audit chain broken at event {problem[0]}: {problem[1]}", file=sys.stderr)
        return 1
    print(f"Audit chain intact: {count} events.")
    return 0


def _audit_prune(args: argparse.Namespace) -> int:
    config = _setup_django(args)
    from careseal.audit import trail

    removed = trail.prune(config.audit.retention)
    print(f"Removed {removed} audit events older than the retention period.")
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    _setup_django(args)
    from careseal.audit import export

    checkpoint = export.export(args.out)
    print(f"Exported {checkpoint['seq']} events to {args.out} with a signed checkpoint.")
    return 0


def _audit_verify_export(args: argparse.Namespace) -> int:
    import base64

    from careseal.audit.offline import verify_export

    key_text = args.public_key or (args.folder / "public_key.txt").read_text(encoding="ascii").strip()
    try:
        public_key = base64.b64decode(key_text, validate=True)
    except ValueError:
        raise CommandError("--public-key must be base64") from None
    problem = verify_export(args.folder, public_key)
    if problem:
        print(f"careseal: export does not verify: {problem}", file=sys.stderr)
        return 1
    print("Export verifies: chain intact and checkpoint signed by the given key.")
    return 0


def _staff_add(args: argparse.Namespace) -> int:
    _setup_django(args)
    password = args.password or secrets.token_urlsafe(18)
    user = _create_staff(args.email, password, superuser=args.role == "administrator", domains=args.sender_domain)
    from django.contrib.auth.models import Group

    from careseal.console import roles

    name = {"staff": roles.STAFF, "auditor": roles.AUDITORS, "administrator": roles.ADMINISTRATORS}[args.role]
    user.groups.add(Group.objects.get(name=name))
    print(f"Created staff account {args.email} with the {args.role} role")
    if not args.password:
        print(f"  password (shown once): {password}")
    return 0


def _staff_reset_second_factor(args: argparse.Namespace) -> int:
    _setup_django(args)
    from django.contrib.auth import get_user_model

    from careseal.audit import trail as audit
    from careseal.console.models import StaffPasskey, StaffTOTP

    user = get_user_model().objects.filter(username=args.email.strip().lower(), is_staff=True).first()
    if user is None:
        raise CommandError(f"no staff account {args.email}")
    removed, _ = StaffTOTP.objects.filter(user=user).delete()
    passkeys, _ = StaffPasskey.objects.filter(user=user).delete()
    sessions = _end_sessions(user.pk)
    audit.record("console.second_factor_reset", actor="operator", subject={"staff": user.pk},
                 data={"passkeys_removed": passkeys, "sessions_ended": sessions})
    if sessions:
        print(f"Ended {sessions} session(s) of {args.email}, signed in or halfway through signing in")
    if passkeys:
        print(f"Removed {passkeys} passkey(s) of {args.email}")
    if removed:
        print(f"Removed the second factor of {args.email}; the next sign-in with the password enrolls a new one")
    else:
        print(f"{args.email} had no second factor; the next sign-in with the password enrolls one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
