"""Alembic migrations shipped inside the package, run programmatically (no alembic.ini needed).

``upgrade(engine)`` brings a database to the head revision; ``check_schema(engine, settings)``
refuses a database whose revision is not the head, naming the command that fixes it.
``python -m persona.store.migrate regenerate`` rewrites the initial migration from the models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from persona.errors import SchemaOutOfDateError, StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and at ``engine`` when given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    """The newest revision this version of Persona ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply every pending migration; returns the revision reached.

    A database whose tables were made without migrations (``create_all``) but match the models
    exactly is stamped at head instead of failing on existing tables.

    Raises:
        SchemaOutOfDateError: unversioned tables that differ from the models.
    """
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if MigrationContext.configure(conn).get_current_revision() is None and _has_persona_tables(conn):
            from alembic.autogenerate import compare_metadata

            from persona.store.models import Base

            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            if diff:
                raise SchemaOutOfDateError(
                    f"the database has Persona tables but no schema version, and they differ from this Persona's models "
                    f"({len(diff)} differences, e.g. {diff[0]!r})",
                    hint="point PERSONA_DATABASE_URL at an empty database, or migrate the data by hand",
                )
            command.stamp(cfg, revision)
        else:
            command.upgrade(cfg, revision)
    return current_revision(engine)


def _has_persona_tables(conn: object) -> bool:
    from persona.store.models import TABLES

    return bool(set(inspect(conn).get_table_names()) & set(TABLES))


def schema_status(engine: Engine) -> dict[str, object]:
    """``{"current", "head", "up_to_date", "state"}`` where state is ok, empty, behind or ahead."""
    head = head_revision()
    current = current_revision(engine)
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current == head:
        state = "ok"
    elif current is None:
        state = "empty"
    elif current in known:
        state = "behind"
    else:
        state = "ahead"
    return {"current": current, "head": head, "up_to_date": state == "ok", "state": state}


def check_schema(engine: Engine, workspace: Path | str) -> None:
    """Refuse a database that is not at the head revision.

    Raises:
        SchemaOutOfDateError: the schema is missing, older or newer than this version's.
        StoreError: the database cannot be reached.
    """
    from sqlalchemy.exc import DBAPIError

    from persona.errors import PersonaError

    try:
        st = schema_status(engine)
    except PersonaError:
        raise
    except DBAPIError as exc:  # connection refused, a read-only SQLite file…: one line naming the cause
        from persona.store.sql import database_error

        raise database_error(exc, engine.url) from exc
    except Exception as exc:
        first = next((s.strip() for s in str(exc).splitlines() if s.strip()), type(exc).__name__)
        raise StoreError(f"cannot read the schema version of {engine.url.render_as_string()}: {first}",
                         hint="check PERSONA_DATABASE_URL and that the database server is running") from exc
    if st["state"] == "ok":
        return
    fix = f"persona db upgrade --workspace {workspace}"
    if st["state"] == "empty":
        has_tables = bool(inspect(engine).get_table_names())
        what = "has tables but no schema version" if has_tables else "has no Persona tables yet"
        raise SchemaOutOfDateError(f"the database {what} (this Persona needs revision {st['head']})",
                                   hint=f"run `persona init --workspace {workspace}` or `{fix}`")
    if st["state"] == "behind":
        raise SchemaOutOfDateError(f"the database schema is at revision {st['current']}, this Persona needs {st['head']}",
                                   hint=f"run `{fix}`")
    raise SchemaOutOfDateError(
        f"the database schema is at revision {st['current']}, newer than this Persona knows (head {st['head']})",
        hint="upgrade Persona (pip install -U persona) or point --workspace / PERSONA_DATABASE_URL at another database",
    )


def regenerate_initial(message: str = "initial schema") -> Path:
    """Rewrite ``versions/0001_initial.py`` by autogenerating it from the models on an empty SQLite database.

    Only for development, when the models changed before the first release: later schema changes
    get a new revision instead (``alembic revision --autogenerate`` with this config).
    """
    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/empty.db")
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=message, autogenerate=True, rev_id="0001")
        engine.dispose()
    out = next(versions.glob("0001_*.py"))
    target = versions / "0001_initial.py"
    text = "\n".join(line.rstrip() for line in out.read_text(encoding="utf-8").splitlines()) + "\n"
    out.unlink()
    target.write_text(text, encoding="utf-8")
    return target


if __name__ == "__main__":  # python -m persona.store.migrate regenerate
    if sys.argv[1:] == ["regenerate"]:
        print(regenerate_initial())
    else:
        print("usage: python -m persona.store.migrate regenerate", file=sys.stderr)
        sys.exit(2)
