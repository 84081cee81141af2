"""Persona's error tree: every user-facing failure is a ``PersonaError`` with a code and a fix.

The CLI prints ``error[CODE]: message`` in one line and exits with ``exit_code``; the API maps
``http_status`` onto the response. Messages say what was received, what is allowed and how to fix it.
"""

from __future__ import annotations


class PersonaError(Exception):
    """Base class of every error Persona reports to a user."""

    code = "persona_error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(PersonaError):
    """The workspace or settings are missing or invalid."""

    code = "config"
    exit_code = 2
    http_status = 500


class WorkspaceNotFoundError(ConfigError):
    """The workspace has not been initialised."""

    code = "workspace_not_found"


class InputError(PersonaError):
    """A user-supplied value, file or argument is invalid."""

    code = "bad_input"
    exit_code = 2
    http_status = 422


class DataFileError(InputError):
    """A data file cannot be read (missing, empty, binary, unknown format)."""

    code = "bad_file"


class SchemaError(InputError):
    """A data file lacks required columns or has columns of the wrong kind."""

    code = "bad_schema"


class SourceError(InputError):
    """A database or REST API to ingest from refused what was asked: bad URL, query, credentials or response."""

    code = "bad_source"


class CursorError(InputError):
    """An incremental pull's cursor column is missing from the source, or holds values that cannot be ordered."""

    code = "bad_cursor"


class SourceUnavailableError(PersonaError):
    """A database or REST API to ingest from cannot be reached, or failed part-way (after its retries)."""

    code = "source_unavailable"
    exit_code = 4
    http_status = 502


class NotFoundError(PersonaError):
    """An id (customer, product, model, campaign…) does not exist."""

    code = "not_found"
    exit_code = 3
    http_status = 404


class PrunedError(NotFoundError):
    """A model version's artifact was deleted by retention (``persona models prune``); only its record is kept."""

    code = "pruned"
    http_status = 410


class StoreError(PersonaError):
    """The database cannot be reached or rejected an operation."""

    code = "store"
    exit_code = 4
    http_status = 503


class ConstraintError(StoreError):
    """The database refused rows that break one of its rules (a NOT NULL, CHECK or foreign key constraint).

    Retrying the same data cannot help, so the API answers 422 rather than the 503 of an unreachable database.
    ``table``, ``column`` and ``constraint`` say what was broken, where the database told; ``rule`` which kind of
    rule it was: ``"NOT NULL"``, ``"CHECK"``, ``"UNIQUE"`` or ``"FOREIGN KEY"`` (None when the database did not say).
    """

    code = "constraint_violation"
    http_status = 422

    def __init__(self, message: str, *, hint: str | None = None, table: str | None = None, column: str | None = None,
                 constraint: str | None = None, rule: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.table = table
        self.column = column
        self.constraint = constraint
        self.rule = rule


class SchemaOutOfDateError(StoreError):
    """The database schema is older (or newer) than this version of Persona."""

    code = "schema_out_of_date"


class NotFittedError(PersonaError, ValueError):
    """An estimator was used before ``fit``."""

    code = "not_fitted"
    exit_code = 5
    http_status = 409

    def __init__(self, estimator: object) -> None:
        name = type(estimator).__name__
        super().__init__(f"this {name} is not fitted yet", hint="call fit first")


class ConsentError(PersonaError):
    """An action would contact a customer without the consent it needs."""

    code = "no_consent"
    exit_code = 6
    http_status = 409


class AuthError(PersonaError):
    """Missing, wrong or insufficient credentials."""

    code = "unauthorized"
    exit_code = 7
    http_status = 401


class ForbiddenError(AuthError):
    """The credentials are valid but lack the scope the action needs."""

    code = "forbidden"
    http_status = 403


class BusyError(PersonaError):
    """Another process holds the workspace lock this action needs (a campaign worker, a sync of the sources)."""

    code = "busy"
    exit_code = 8
    http_status = 409
