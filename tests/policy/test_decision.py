"""Policy decisions: most specific rule first, keyword and PHI guard on top."""

from careseal.config import DEFAULT_PHI_PATTERNS
from careseal.policy.decision import Rule, decide, subject_looks_like_phi

RULES = [
    Rule("group", "oncology", "escrow"),
    Rule("sender", "dr.rivera@clinic.test", "verified-tls"),
    Rule("domain", "patient.test", "tls-or-escrow"),
    Rule("recipient", "pat@patient.test", "escrow", "asked by phone"),
]


def run(recipient: str, sender: str = "dr.rivera@clinic.test", groups: tuple[str, ...] = ("oncology",),
        **extra: object):  # type: ignore[no-untyped-def]
    return decide(default_policy="verified-tls", secure_keyword=False, recipient=recipient, sender=sender,
                  sender_groups=groups, rules=RULES, **extra)  # type: ignore[arg-type]


def test_recipient_rule_beats_all() -> None:
    decision = run("Pat@Patient.test")

    assert decision.policy == "escrow"
    assert decision.reasons == ("default policy verified-tls", "recipient rule for pat@patient.test: escrow "
                                                                "(asked by phone)")


def test_domain_rule_beats_sender() -> None:
    assert run("other@patient.test").policy == "tls-or-escrow"


def test_sender_rule_beats_group() -> None:
    assert run("x@elsewhere.test").policy == "verified-tls"


def test_group_rule_applies() -> None:
    assert run("x@elsewhere.test", sender="nurse@clinic.test").policy == "escrow"


def test_default_without_rules() -> None:
    decision = run("x@elsewhere.test", sender="nurse@clinic.test", groups=())

    assert decision == decision.__class__("verified-tls", ("default policy verified-tls",))


def test_keyword_upgrades_to_escrow() -> None:
    decision = decide(default_policy="verified-tls", secure_keyword=True)

    assert decision.policy == "escrow"
    assert decision.reasons[-1] == "subject keyword requested escrow"


def test_phi_guard_upgrades_when_configured() -> None:
    kept = run("x@elsewhere.test", groups=(), phi_in_subject=True)
    upgraded = run("x@elsewhere.test", groups=(), phi_in_subject=True, phi_escrow=True)

    assert kept.policy == "verified-tls"
    assert upgraded.policy == "escrow"
    assert upgraded.reasons[-1] == "PHI guard upgraded the message to escrow"


def test_phi_patterns_match() -> None:
    for subject in ("Results for MRN 448812", "DOB 03/14/1962", "SSN 123-45-6789", "Dx E11.9 follow-up"):
        assert subject_looks_like_phi(subject, DEFAULT_PHI_PATTERNS, ()), subject


def test_ordinary_subjects_pass() -> None:
    for subject in ("Your appointment", "Office closed on Monday", "Flu shots available"):
        assert not subject_looks_like_phi(subject, DEFAULT_PHI_PATTERNS, ()), subject


def test_drug_names_match_whole_words() -> None:
    assert subject_looks_like_phi("Refill: Metformin 500", (), ("metformin",))
    assert not subject_looks_like_phi("Metformina", (), ("metformin",))
