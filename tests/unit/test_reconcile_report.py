"""The reconcile report's two faces: the contract's JSON and the readable text. Pure."""

from __future__ import annotations

from operations.reconcile import KINDS, Counts, Report, Violation, render_report, report_json

COUNTS = Counts(payments=10, completed=7, ledger_rows=7, wallets=3)
BALANCE = Violation("balance_mismatch", "user_id", "ada", "NGN wallet balance is 5 but …")
DOUBLE = Violation("duplicate_credit", "reference", "r-1", "2 ledger rows totalling 10")


def test_clean_report_is_ok_in_json_and_text() -> None:
    report = Report((), COUNTS)

    assert report_json(report) == {
        "ok": True,
        "violations": [],
        "findings": [],
        "counts": {"payments": 10, "completed": 7, "ledger_rows": 7, "wallets": 3},
    }
    assert render_report(report) == (
        f"reconcile: OK - 10 payments (7 completed), 7 ledger rows, 3 wallets; "
        f"all {len(KINDS)} invariants hold"
    )


def test_a_negative_wallet_is_a_finding_and_the_report_stays_ok() -> None:
    negative = Violation("negative_wallet", "user_id", "bob", "NGN wallet balance is -5")
    report = Report((), COUNTS, (negative,))

    assert report.ok
    assert report_json(report)["findings"] == [
        {"kind": "negative_wallet", "user_id": "bob", "detail": "NGN wallet balance is -5"}
    ]
    assert "negative_wallet (1): finding, not a violation" in render_report(report)


def test_violations_carry_their_subject_under_its_own_key() -> None:
    document = report_json(Report((BALANCE, DOUBLE), COUNTS))

    assert document["ok"] is False
    assert document["violations"] == [
        {"kind": "balance_mismatch", "user_id": "ada", "detail": "NGN wallet balance is 5 but …"},
        {"kind": "duplicate_credit", "reference": "r-1", "detail": "2 ledger rows totalling 10"},
    ]


def test_text_groups_violations_by_kind_with_what_the_kind_means() -> None:
    text = render_report(Report((DOUBLE, BALANCE, DOUBLE), COUNTS))

    assert text.splitlines() == [
        "reconcile: 3 VIOLATION(S) in 10 payments (7 completed), 7 ledger rows, 3 wallets",
        "",
        f"balance_mismatch (1): {KINDS['balance_mismatch']}",
        "  user_id=ada: NGN wallet balance is 5 but …",
        "",
        f"duplicate_credit (2): {KINDS['duplicate_credit']}",
        "  reference=r-1: 2 ledger rows totalling 10",
        "  reference=r-1: 2 ledger rows totalling 10",
    ]


def test_an_unknown_kind_is_still_shown() -> None:
    odd = Violation("new_check", "reference", "r-9", "something new")

    assert "  reference=r-9: something new" in render_report(Report((odd,), COUNTS))
