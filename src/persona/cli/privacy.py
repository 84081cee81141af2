"""``persona privacy report|export|erase|redact-reviews|rotate-key|vacuum``: the privacy report, the data-subject
rights, the redaction of e-mail addresses, phone, card and account numbers, IBANs and messaging ids from stored review
texts, key rotation, and reclaiming the old row versions those leave in the database files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for

app = typer.Typer(help="Privacy: a report of the personal data held, export and erasure of one customer, redaction of review texts, "
                       "rotation of the workspace secret.",
                  no_args_is_help=True)


@contextmanager
def _workspace(workspace: Any) -> Iterator[tuple[Any, Any]]:
    """Settings and the open store of an initialised workspace, disposed afterwards."""
    from persona.cli.profiles import open_workspace_store

    store = open_workspace_store(workspace)
    try:
        yield settings_for(workspace), store
    finally:
        store.dispose()


@app.command("report")
def report(
    k: Annotated[int, typer.Option("--k", help="k-anonymity threshold: combinations shared by fewer customers count as risky.")] = 5,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """PII at rest and where it leaks in plain text, re-identification risk, consent, erasure and access.

    JSON output: {"pii_at_rest", "plaintext_pii", "reidentification": {"precise", "generalised"}, "consent",
    "erasure", "access", "findings": [what needs action]}. Values are never printed, only counts and names.
    """
    from persona.privacy.report import privacy_report
    from persona.privacy.scope import PII_FIELDS

    with _workspace(workspace) as (settings, store):
        rep = privacy_report(store, settings, k=k)
    if as_json:
        emit(rep, True)
        return
    pii = rep["pii_at_rest"]
    console.print(f"{pii['customers']:,} customers; encrypted at rest: "
                  + ", ".join(f"{c} {pii[c]['stored']:,} ({pii[c]['unreadable']} of {pii[c]['checked']} sampled unreadable)"
                              for c in PII_FIELDS))
    for name in ("precise", "generalised"):
        r = rep["reidentification"][name]
        if r["columns"]:
            console.print(f"{name}: {' + '.join(r['columns'])}: {r['share_below_k']:.1%} of customers in groups under {r['k']} "
                          f"({r['unique']:,} unique)")
    c = rep["consent"]
    console.print("marketing consent: " + ", ".join(f"{ch} {n:,}" for ch, n in c["marketing"].items())
                  + f"; no consent record: {c['customers_without_any_record']:,}")
    e = rep["erasure"]
    console.print(f"erased customers: {e['erased']:,} ({'nothing left' if e['complete'] else 'rows left: ' + str(e['rows_left'])})")
    console.print(f"active API keys: {rep['access']['active_keys'] or 'none'}")
    console.print(f"key last rotated: {rep['key']['last_rotated'] or 'never'}")
    if rep["findings"]:
        console.print(f"\n[red]{len(rep['findings'])} finding(s):[/red]")
        for f in rep["findings"]:
            console.print(f"- {f}", markup=False, highlight=False)
    else:
        console.print("\n[green]nothing needs action[/green]")


@app.command("export")
def export(
    customer_id: Annotated[str, typer.Argument(help="The customer whose data to export.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Everything held about one customer, decrypted (the right of access); the export is audited.

    JSON output: the whole export ({"customer", "consents", "events", "reviews", "profile", "segments",
    "predictions", "messages", "experiments", "exported_at"}); the table shows how much each section holds.
    """
    from persona.privacy.gdpr import export_customer

    with _workspace(workspace) as (settings, store):
        out = export_customer(store, settings, customer_id, actor="cli")
    if as_json:
        emit(out, True)
        return
    emit([{"section": k, "rows": len(v) if isinstance(v, list) else 1} for k, v in out.items() if k != "exported_at"], False,
         title=f"held about {customer_id} (--json for the data)")


@app.command("erase")
def erase(
    customer_id: Annotated[str | None, typer.Argument(help="The customer to erase (or to finish erasing).",
                                                      show_default=False)] = None,
    all_erased: Annotated[bool, typer.Option("--all-erased", help="Finish the erasure of every customer erased before: "
                                             "what the privacy report finds left of them goes.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase one customer everywhere: PII, events, reviews, profile, segments, predictions, outbox, quarantined rows.

    A tombstone and an audit record by pseudonym stay, so no later send reaches them; the live loop of a running
    `persona serve` drops them from its served model within seconds. Erasing an erased customer again finishes
    the erasure (idempotent; erased_at keeps the first time) and says what it found left: a tombstone column an
    older version kept, rows a build wrote back, quarantine rows. --all-erased does that for every erased
    customer (the fix the privacy report names); without --yes it says what it would change. JSON output:
    {"customer_id", "erased", "again", "erased_at", "changed", "removed": {table: rows, "consents_kept"},
    "cleared": [columns], "quarantine": {"scanned", "files", "rows", "removed_files", "failed"}}; with
    --all-erased {"tombstones", "finished", "removed", "cleared": {column: tombstones}, "quarantine", "applied"}.
    """
    from persona.errors import InputError
    from persona.privacy.gdpr import erase_customer, finish_erasures

    if (customer_id is None) == (not all_erased):
        raise InputError("give either a customer id or --all-erased", hint="persona privacy erase CUSTOMER_ID --yes, or "
                         "persona privacy erase --all-erased --yes")
    if all_erased:
        with _workspace(workspace) as (settings, store):
            out = finish_erasures(store, settings, apply=yes, actor="cli")
        if not yes and out["finished"]:
            emit(out, as_json, title="finishing the erasures would change")
            raise InputError(f"{out['finished']:,} of {out['tombstones']:,} erased customers have something left; "
                             "nothing was changed", hint="add --yes to finish their erasure")
        if as_json:
            emit(out, True)
            return
        _print_finished(out)
        return
    if not yes:
        raise InputError(f"erasing {customer_id!r} cannot be undone", hint="add --yes to confirm")
    with _workspace(workspace) as (settings, store):
        out = erase_customer(store, settings, customer_id, actor="cli")
    if as_json:
        emit({"customer_id": customer_id, "erased": True, **{k: v for k, v in out.items() if k != "customer_id"}}, True)
        return
    _print_erased(customer_id, out)


def _left_text(removed: dict[str, int], cleared: Any, quarantine: dict[str, Any]) -> str:
    """What an erasure took away, in words: rows per table, tombstone columns, quarantine rows."""
    parts = [f"{t} {n:,}" for t, n in removed.items() if n and t != "consents_kept"]
    if cleared:
        parts.append("tombstone column(s) " + ", ".join(cleared if isinstance(cleared, list) else
                                                        [f"{c} ({n:,})" for c, n in cleared.items()]))
    if quarantine["rows"]:
        parts.append(f"{quarantine['rows']:,} quarantine row(s) in {len(quarantine['files'])} file(s)")
    return "; ".join(parts)


def _print_erased(customer_id: str, out: dict[str, Any]) -> None:
    when = out["erased_at"][:19].replace("T", " ")
    if not out["again"]:
        removed = _left_text(out["removed"], [], out["quarantine"])
        console.print(f"erased {customer_id}: rows removed: {removed or 'none held'}; personal data in the tombstone "
                      "blanked (id, pseudonym and erasure time kept)", markup=False, highlight=False)
    elif out["changed"]:
        console.print(f"{customer_id} was erased on {when} UTC; finished now: "
                      f"{_left_text(out['removed'], out['cleared'], out['quarantine'])}", markup=False, highlight=False)
    else:
        console.print(f"{customer_id} was erased on {when} UTC: nothing left to erase", markup=False, highlight=False)
    if out["quarantine"]["failed"]:
        console.print(f"quarantine file(s) that could not be rewritten: {', '.join(out['quarantine']['failed'])}",
                      style="bold", markup=False, highlight=False)


def _print_finished(out: dict[str, Any]) -> None:
    if not out["finished"]:
        console.print(f"nothing left to erase of the {out['tombstones']:,} erased customers", markup=False, highlight=False)
    else:
        console.print(f"finished the erasure of {out['finished']:,} of {out['tombstones']:,} erased customers: "
                      f"{_left_text(out['removed'], out['cleared'], out['quarantine'])}", markup=False, highlight=False)
    if out["quarantine"]["failed"]:
        console.print(f"quarantine file(s) that could not be rewritten: {', '.join(out['quarantine']['failed'])}",
                      style="bold", markup=False, highlight=False)


@app.command("redact-reviews")
def redact_reviews(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the original texts cannot be restored.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Redact e-mail addresses, phone, card and account numbers, IBANs and messaging ids from stored review texts.

    For reviews loaded before ingest redacted them (the privacy report names this command when it finds any).
    Batches of 5,000 reviews, one transaction each; idempotent (a rerun changes 0 rows); audited. Without --yes
    it changes nothing and says how many reviews would change. JSON output: {"reviews", "rows", "email", "phone",
    "card", "iban", "im", "account", "applied", "rekeyed", "kept_ids", "duplicates_removed", "seconds"}.
    """
    from persona.errors import InputError
    from persona.privacy.detect import describe_counts, tokens_of
    from persona.privacy.redact import redact_stored_reviews

    with _workspace(workspace) as (_settings, store):
        out = redact_stored_reviews(store, apply=yes, actor="cli")
    if not yes and out["rows"]:
        raise InputError(f"{out['rows']:,} of {out['reviews']:,} review texts hold {describe_counts(out)}; redacting them "
                         "cannot be undone", hint="add --yes to redact them")
    if as_json:
        emit(out, True)
        return
    if not out["rows"]:
        console.print(f"nothing to redact: none of the {out['reviews']:,} review texts holds an e-mail address, a phone, card "
                      "or account number, an IBAN or a messaging id")
        return
    console.print(f"redacted {out['rows']:,} of {out['reviews']:,} review texts: {describe_counts(out)} replaced by "
                  f"{tokens_of(out)}", markup=False, highlight=False)


@app.command("vacuum")
def vacuum(
    full: Annotated[bool, typer.Option("--full", help="Rewrite each table (PostgreSQL VACUUM FULL: locks each table "
                                       "against reads and writes while it is rewritten) or rebuild the file (SQLite).")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reclaim the old row versions an erasure, a redaction or a key rotation left in the database files.

    On PostgreSQL an erased or redacted row's previous version stays in its table file until VACUUM reclaims it,
    and autovacuum may not get there for weeks; the privacy report names the tables that still hold some. Plain
    vacuum frees them for reuse without blocking anyone; --full rewrites the tables so nothing of them stays. On
    SQLite deleted content is overwritten at once; this truncates the write-ahead log (--full: rebuilds the file).
    Audited. JSON output: {"database", "full", "tables": {table: {"dead_before", "dead_after", "seconds"}}, "seconds"}
    on PostgreSQL; {"database", "full", "free_pages_before", "free_pages_after", "seconds"} on SQLite.
    """
    from persona.privacy.vacuum import vacuum as run_vacuum

    with _workspace(workspace) as (_settings, store):
        out = run_vacuum(store, full=full, actor="cli")
    if as_json:
        emit(out, True)
        return
    if "tables" in out:
        emit([{"table": t, **d} for t, d in out["tables"].items() if d["dead_before"] or d["seconds"] >= 0.1], False,
             title=f"vacuumed {len(out['tables'])} tables{' (full)' if full else ''} in {out['seconds']:.1f} s "
                   "(dead row versions as PostgreSQL estimates them)")
    else:
        console.print(f"SQLite: write-ahead log truncated{'; file rebuilt' if full else ''}; free pages "
                      f"{out['free_pages_before']:,} → {out['free_pages_after']:,} ({out['seconds']:.1f} s)")


@app.command("rotate-key")
def rotate_key(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: re-encrypt and re-key everything under a new secret.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Settle a rotation that was interrupted: finish it if the data "
                                         "moved to the new key, else discard the new key.")] = False,
    new_key_file: Annotated[Path | None, typer.Option("--new-key-file", help="With PERSONA_SECRET_KEY only: where to write "
                                                      "the new key (mode 0600), or a file holding the new key to use.",
                                                      show_default=False)] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace the workspace secret: PII re-encrypted, pseudonyms, e-mail hashes and keyed review ids re-derived.

    All rows change in one transaction; the old key is kept as secret.key.old-<UTC time> (backups taken before stay
    readable, and links in sent e-mails keep working). Without --yes it says how many rows would change and exits 2.
    Running services follow a key file within a second; with PERSONA_SECRET_KEY restart them with the new key
    (until then they refuse key-derived writes). JSON output: {"rotated", "rows": {column: n}, "pseudonyms",
    "email_hashes", "email_hashes_dropped", "audit_subjects", "audit_subjects_kept", "review_ids_rekeyed",
    "row_hashes_cleared", "old_key_kept", "new_key_file", "env", "old_fingerprint", "new_fingerprint", "seconds"}.
    """
    from persona.errors import InputError
    from persona.privacy.rotate import resume_rotation, rotate_key, rotation_plan

    with _workspace(workspace) as (settings, store):
        if resume:
            out = resume_rotation(store, settings, new_key_file=new_key_file)
        elif not yes:
            plan = rotation_plan(store)
            emit(plan, as_json, title="a key rotation would rewrite (rows)")
            raise InputError("nothing was changed", hint="add --yes to rotate the key")
        else:
            out = rotate_key(store, settings, new_key_file=new_key_file, actor="cli")
    if as_json:
        emit(out, True)
        return
    if resume:
        messages = {"nothing": "no interrupted key rotation: nothing to do",
                    "discarded": "the interrupted rotation had not committed: the data is under the current key; "
                                 "the new key was discarded",
                    "finished": f"the interrupted rotation had committed: finished, the key in use is {out['new_key_file']}"}
        console.print(messages[out["resumed"]], markup=False, highlight=False)
    else:
        rows = ", ".join(f"{k} {v:,}" for k, v in out["rows"].items())
        console.print(f"rotated the workspace key in {out['seconds']:.1f}s: re-encrypted {rows}; {out['pseudonyms']:,} "
                      f"pseudonyms, {out['email_hashes']:,} e-mail hashes, {out['audit_subjects']:,} audit subjects and "
                      f"{out['review_ids_rekeyed']:,} keyed review ids re-derived; {out['row_hashes_cleared']:,} row hashes "
                      "cleared (the next load of each file rewrites its rows once)", markup=False, highlight=False)
        console.print(f"the old key is kept at {out['old_key_kept']} (for backups taken before, and links in sent e-mails); "
                      "delete it when neither is needed", markup=False, highlight=False)
    if out.get("env") and out.get("rotated", out.get("resumed") == "finished"):
        console.print(f"now set PERSONA_SECRET_KEY to the content of {out['new_key_file']} wherever Persona runs, restart "
                      "every service, then delete that file", style="bold", markup=False, highlight=False)
    elif out.get("rotated") or out.get("resumed") == "finished":
        console.print("running Persona services that read this key file follow the new key within a second; restart "
                      "any that run with a copy of the old key elsewhere", style="bold", markup=False, highlight=False)
