"""The one list of where a customer's personal data lives (``persona.privacy.scope``) held against the store's schema:
a new table keyed by ``customer_id`` or a new ``customers`` column fails here until it is placed (erased or kept, with
why), and the modules that act on personal data read the list rather than a copy of it."""

from __future__ import annotations

from sqlalchemy import LargeBinary, inspect

from persona.privacy import report, rotate, scope, vacuum
from persona.store.models import TABLES


def _customer_tables() -> set[str]:
    return {name for name, table in TABLES.items() if "customer_id" in table.c}


def test_every_table_keyed_by_customer_id_is_erased_or_kept_with_a_reason() -> None:
    erased, kept = set(scope.ERASED_TABLES), set(scope.KEPT_TABLES)
    assert not erased & kept
    assert len(erased) == len(scope.ERASED_TABLES)  # no table twice
    missing = _customer_tables() - erased - kept
    assert not missing, f"tables with a customer_id column that erasure neither deletes nor keeps: {sorted(missing)}"
    assert erased | kept == _customer_tables(), "scope names a table the schema has no customer_id column in"
    assert all(reason.strip() for reason in scope.KEPT_TABLES.values())


def test_every_customers_column_is_blanked_by_erasure_or_kept_with_a_reason() -> None:
    blanked, kept = set(scope.ERASED_CUSTOMER_COLUMNS), set(scope.KEPT_CUSTOMER_COLUMNS)
    assert not blanked & kept
    columns = set(TABLES["customers"].c.keys())
    assert blanked | kept == columns, (f"customers columns not placed: {sorted(columns - blanked - kept)}; "
                                       f"placed but not in the schema: {sorted((blanked | kept) - columns)}")
    assert all(TABLES["customers"].c[c].nullable for c in blanked)  # erasure writes NULL into each
    assert all(reason.strip() for reason in scope.KEPT_CUSTOMER_COLUMNS.values())


def test_the_pii_columns_are_the_customers_ciphertext_columns() -> None:
    binary = [c.name for c in TABLES["customers"].c if isinstance(c.type, LargeBinary)]
    assert list(scope.PII_COLUMNS) == binary == [f"{f}_enc" for f in scope.PII_FIELDS]
    assert set(scope.PII_COLUMNS) <= set(scope.ERASED_CUSTOMER_COLUMNS)


def test_vacuum_covers_every_table_that_holds_personal_data() -> None:
    personal = set(scope.PERSONAL_TABLES)
    assert personal >= _customer_tables() | set(scope.OTHER_PERSONAL_TABLES)
    assert personal <= set(TABLES)
    assert len(personal) == len(scope.PERSONAL_TABLES)


def test_the_modules_read_the_one_list() -> None:
    assert report.ERASED_TABLES is scope.ERASED_TABLES
    assert vacuum.PERSONAL_TABLES is scope.PERSONAL_TABLES
    assert rotate.PII_COLUMNS is scope.PII_COLUMNS
    import persona.store.portable as portable

    assert not hasattr(portable, "PII_COLUMNS")  # the export's key check reads scope.PII_COLUMNS


def test_the_migrated_database_has_the_same_customer_tables_and_columns(workspace_shop) -> None:  # noqa: ANN001
    store, _ = workspace_shop  # created by the migrations, not by the models' metadata
    insp = inspect(store.engine)
    tables = {t for t in insp.get_table_names() if t != "alembic_version"}
    assert tables == set(TABLES)
    keyed = {t for t in tables if "customer_id" in {c["name"] for c in insp.get_columns(t)}}
    assert keyed == set(scope.ERASED_TABLES) | set(scope.KEPT_TABLES)
    assert {c["name"] for c in insp.get_columns("customers")} == (set(scope.ERASED_CUSTOMER_COLUMNS)
                                                                  | set(scope.KEPT_CUSTOMER_COLUMNS))
