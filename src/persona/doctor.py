"""``persona doctor``: is this workspace ready to run, and if not, what to do, one check at a time.

Each check gives ``ok``, ``warn`` (works, but should be fixed) or ``fail`` (something will not run), with what it saw
and the fix. The checks read only: nothing is created, migrated, decrypted for display or sent. Secrets never appear
in the output (a database URL without its password, a key by its fingerprint).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from persona.errors import PersonaError

Status = Literal["ok", "warn", "fail"]
#: free space under the workspace below which a warning is given (ingest, models and exports need room)
MIN_FREE_BYTES = 1 << 30
#: ciphertexts sampled to check that the key opens the stored PII
KEY_SAMPLE = 20


@dataclass
class Check:
    """One check's verdict: ``name``, ``status``, what was seen (``detail``) and, unless ok, how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(settings: Any) -> list[Check]:
    """Run every check on the workspace of ``settings``; later checks are skipped (``warn``) when an earlier one they
    need failed (no store without a workspace, no key check without a store)."""
    from persona.store.workspace import require_workspace

    try:
        require_workspace(settings)
    except PersonaError as exc:
        return [Check("workspace", "fail", exc.message, exc.hint)]
    checks = [Check("workspace", "ok", str(settings.workspace))]
    store, check = _store(settings)
    checks.append(check)
    checks.append(_key_file(settings))
    if store is not None:
        try:
            checks.append(_key_opens_data(store, settings))
            checks.extend(_sources(settings))
        finally:
            store.dispose()
    checks.append(_engine(settings))
    checks.append(_redis())
    checks.append(_disk(settings))
    return checks


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except PersonaError as exc:
        return Check(name, "fail", exc.message, exc.hint)


def _store(settings: Any) -> tuple[Any, Check]:
    from persona.ingest.sources.redact import redact_url
    from persona.store import open_store
    from persona.store.sql import parse_database_url, shown_url

    try:  # a URL that cannot be parsed is never echoed: it may hold a password that parsing could not find
        parsed = parse_database_url(settings.url, settings=settings)
    except PersonaError as exc:
        return None, Check("database", "fail", exc.message, exc.hint)
    shown = redact_url(str(settings.url))
    try:
        store = open_store(settings)
    except PersonaError as exc:
        said = shown_url(parsed) in exc.message  # "cannot connect to the database <url> …" names it already
        return None, Check("database", "fail", exc.message if said else f"{shown}: {exc.message}", exc.hint)
    return store, Check("database", "ok", f"{shown}: reachable, schema at the current revision")


def _key_file(settings: Any) -> Check:
    from persona.privacy.crypto import PIICipher
    from persona.privacy.keyfiles import next_key_path

    def check() -> Check:
        if next_key_path(settings.key_path).exists():
            return Check("key", "fail", f"{next_key_path(settings.key_path).name} exists: a key rotation did not finish",
                         "run `persona privacy rotate-key --resume`")
        cipher = PIICipher.from_settings(settings)
        where = "PERSONA_SECRET_KEY" if settings.secret_key else str(settings.key_path)
        detail = f"{where} (fingerprint {cipher.fingerprint})"
        if not settings.secret_key:
            mode = stat.S_IMODE(settings.key_path.stat().st_mode)
            if mode & 0o077:
                return Check("key", "warn", f"{detail} is readable by others (mode {mode:o})",
                             f"chmod 600 {settings.key_path}")
        return Check("key", "ok", detail)

    return _guard("key", check)


def _key_opens_data(store: Any, settings: Any) -> Check:
    from persona.privacy.crypto import PIICipher

    def check() -> Check:
        cipher = PIICipher.from_settings(settings)
        rows = store.read_frame(f"SELECT email_enc FROM customers WHERE email_enc IS NOT NULL LIMIT {KEY_SAMPLE}")
        if rows.empty:
            return Check("key opens the data", "ok", "no encrypted e-mail address stored yet")
        bad = 0
        for token in rows["email_enc"]:
            try:
                cipher.decrypt(bytes(token))
            except PersonaError:
                bad += 1
        if bad:
            return Check("key opens the data", "fail", f"{bad} of {len(rows)} sampled ciphertexts do not open with this key",
                         "set PERSONA_SECRET_KEY / restore the key file the data was encrypted with "
                         "(after a rotation: secret.key.old-<time> is the previous one)")
        return Check("key opens the data", "ok", f"{len(rows)} sampled ciphertexts open")

    return _guard("key opens the data", check)


def _sources(settings: Any) -> list[Check]:
    from persona.ingest.sources.configured import load_sources

    try:
        specs = load_sources(settings)
    except PersonaError as exc:
        return [Check("sources", "fail", exc.message, exc.hint)]
    if not specs:
        return [Check("sources", "ok", "none configured (persona run uses the data in the workspace, or the demo shop)")]
    out = []
    for spec in specs:
        needed = ([spec.db_env] if spec.db_env else []) + list(spec.headers_env.values())
        missing = [v for v in needed if not os.environ.get(v)]
        name = f"source {spec.name}"
        if missing:
            out.append(Check(name, "fail", f"environment variable(s) {', '.join(missing)} not set here",
                             f"export {missing[0]}=… in the environment that runs persona sync / persona run"))
        elif spec.password_inline():
            out.append(Check(name, "warn", "its database password is written in config.toml",
                             "move the URL to an environment variable and name it with db_env"))
        else:
            out.append(Check(name, "ok", f"{spec.kind} source for {spec.entity}"
                             + (", incremental" if spec.incremental else "")))
    return out


def _engine(settings: Any) -> Check:
    if settings.engine != "spark":
        return Check("engine", "ok", "local")
    from persona.engines.spark.session import INSTALL_HINT, spark_available

    reason = spark_available()
    if reason is not None:
        return Check("engine", "fail", f"spark is configured but cannot start: {reason}", INSTALL_HINT)
    return Check("engine", "ok", f"spark ({settings.spark_master})")


def _redis() -> Check:
    url = os.environ.get("PERSONA_REDIS_URL")
    if not url:
        return Check("redis", "ok", "not configured (the service caches recommendations in process)")
    from persona.ingest.sources.redact import redact_url

    try:
        import redis
    except ModuleNotFoundError:
        return Check("redis", "fail", "PERSONA_REDIS_URL is set but the redis client is not installed",
                     'pip install -e ".[api]"')
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the finding
        return Check("redis", "fail", f"{redact_url(url)} does not answer: {type(exc).__name__}",
                     "start Redis or unset PERSONA_REDIS_URL")
    return Check("redis", "ok", f"{redact_url(url)} answers")


def _disk(settings: Any) -> Check:
    free = shutil.disk_usage(settings.workspace).free
    detail = f"{free / (1 << 30):.1f} GiB free under {settings.workspace}"
    if free < MIN_FREE_BYTES:
        return Check("disk", "warn", detail, "free some space: ingestion, model artifacts and exports need room")
    return Check("disk", "ok", detail)
