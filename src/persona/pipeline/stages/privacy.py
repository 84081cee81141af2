"""Stage ``privacy``: the workspace's privacy report (see :mod:`persona.privacy.report`) in the run's report."""

from __future__ import annotations

import html

from persona.pipeline.stage import RunContext, Section, Stage, StageResult


def run(ctx: RunContext) -> StageResult:
    from persona.privacy.report import privacy_report
    from persona.privacy.scope import PII_FIELDS

    rep = privacy_report(ctx.store, ctx.settings)
    pii, rid, con, era = rep["pii_at_rest"], rep["reidentification"], rep["consent"], rep["erasure"]
    items = [f"{pii['customers']:,} customers; e-mail {pii['email']['stored']:,}, phone {pii['phone']['stored']:,}, name "
             f"{pii['name']['stored']:,} stored, all encrypted (AES-256-GCM); a sample of each opens with this workspace's key"
             + ("" if not any(pii[c]["unreadable"] for c in PII_FIELDS) else " except the ones named below") + "."]
    for name in ("precise", "generalised"):
        r = rid[name]
        if r["columns"]:
            items.append(f"{html.escape(' + '.join(r['columns']))}: {r['share_below_k']:.1%} of customers are in groups of fewer "
                         f"than {r['k']} ({r['unique']:,} alone).")
    items.append("Marketing consent: " + ", ".join(f"{html.escape(ch)} {n:,}" for ch, n in con["marketing"].items())
                 + f"; {con['customers_without_any_record']:,} customers have no consent record (no record, no contact).")
    items.append(f"{era['erased']:,} customers erased; " + ("nothing of theirs is left." if era["complete"] else
                 "rows left: " + html.escape(", ".join(f"{t} {n}" for t, n in era["rows_left"].items())) + "."))
    found = rep["findings"]
    body = ("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
            + ("<p><b>Needs action:</b></p><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in found) + "</ul>" if found
               else "<p><b>Nothing needs action.</b></p>")
            + "<p>Values are never shown here; <code>persona privacy report --json</code> gives every figure.</p>")
    figures = {"findings": found, "customers": pii["customers"], "plaintext_pii": rep["plaintext_pii"],
               "share_below_k": {n: rid[n]["share_below_k"] for n in rid}, "erasure_complete": era["complete"],
               "marketing_consent": con["marketing"]}
    message = (f"{len(found)} finding{'s need' if len(found) != 1 else ' needs'} action") if found else "nothing needs action"
    return StageResult(figures=figures, message=message, sections=[Section(title="Privacy: what is held and how it is protected", html=body)])


PRIVACY = Stage(name="privacy", title="Privacy", run=run)
