"""The one-screen report of a chaos scenario (pure)."""

from __future__ import annotations

from payhooks_devtools.chaos.runner import ScenarioReport


def render(report: ScenarioReport) -> str:
    load = report.load
    verdict = "PASS" if report.ok else "FAIL"
    lines = [
        f"== chaos: {report.scenario} (seed {report.seed}) — {verdict} in {report.seconds:.0f} s",
        f"  consumers              {report.consumers}",
        f"  payments initialized   {report.payments}",
        f"  webhooks sent          {load.sent} ({load.attempts} attempts)",
        f"  accepted (202)         {load.accepted} for {len(load.accepted_references)} payments",
        f"  503 answers            {load.unavailable}",
        f"  connection errors      {load.connection_errors}",
        f"  gave up (deadline)     {load.gave_up}",
        f"  refused (not 2xx/503)  {len(load.refused)} payments",
        f"  records published      {report.published}",
        f"  outcomes recorded      {outcomes(report)}",
        f"  credited               {report.credited}",
        f"  refunds accepted       {report.refunds_accepted} → {report.refunds_applied} "
        "reversal rows",
        f"  lost webhooks          {report.lost_webhooks} → {report.swept} credited by the sweep",
        f"  duplicates absorbed    {report.duplicates_absorbed} (recorded by the consumer)",
        f"  retried (records)      {report.retried}",
        f"  dead-lettered          {report.dead_lettered}",
        f"  faults injected        {len(report.faults)}: {'; '.join(report.faults[:6])}"
        + (" …" if len(report.faults) > 6 else ""),
        f"  recovery               {recovery(report)}",
        f"  stopped on SIGTERM in  {stops(report)}",
        f"  violations             {len(report.violations)}",
    ]
    lines += [f"    - {violation}" for violation in report.violations[:10]]
    if load.other:
        lines.append(f"  other answers          {dict(load.other)}")
    return "\n".join(lines)


def recovery(report: ScenarioReport) -> str:
    if report.recovery_seconds is None:
        return "n/a (no fault end, or nothing left to credit after it)"
    return f"{report.recovery_seconds:.1f} s from the fault's end to the next credit"


def stops(report: ScenarioReport) -> str:
    if not report.stop_seconds:
        return "n/a"
    return f"{max(report.stop_seconds.values()):.1f} s at most"


def outcomes(report: ScenarioReport) -> str:
    if not report.outcomes:
        return "none"
    return ", ".join(f"{kind} {count}" for kind, count in sorted(report.outcomes.items()))
