"""Canonical columns of each ingestible entity: names, kinds, what is required and where extras go."""

from __future__ import annotations

from dataclasses import dataclass, field

# kinds: id (required-looking string key), str, text, ts, float, int, bool, etype, pii
ENTITY_ORDER = ("customers", "products", "events", "reviews", "consents")


@dataclass(frozen=True)
class EntitySpec:
    """How one entity's file maps onto its table.

    Attributes:
        name: entity name used on the command line.
        table: the table rows go to.
        columns: canonical column -> kind.
        required: columns a file must have (after ``--map``).
        key: the column(s) that identify a row (duplicates are judged on them).
        extras: JSON column keeping non-canonical columns (None: they are reported and dropped).
        renames: canonical column -> table column where they differ.
        max_len: longest value a string column's table column can hold.
    """

    name: str
    table: str
    columns: dict[str, str]
    required: tuple[str, ...]
    key: tuple[str, ...]
    extras: str | None = None
    renames: dict[str, str] = field(default_factory=dict)
    max_len: dict[str, int] = field(default_factory=dict)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.required)


SPECS: dict[str, EntitySpec] = {
    "customers": EntitySpec(
        name="customers",
        table="customers",
        columns={
            "customer_id": "id", "email": "pii", "phone": "pii", "name": "pii", "gender": "str", "birth_year": "int",
            "city": "str", "country": "str", "timezone": "str", "language": "str", "created_at": "ts",
        },
        required=("customer_id",),
        key=("customer_id",),
        extras="attributes",
        max_len={"customer_id": 128, "gender": 32, "city": 128, "country": 64, "timezone": 64, "language": 16},
    ),
    "products": EntitySpec(
        name="products",
        table="products",
        columns={
            "product_id": "id", "title": "text", "description": "text", "category": "str", "brand": "str",
            "price": "float", "in_stock": "bool", "created_at": "ts",
        },
        required=("product_id",),
        key=("product_id",),
        extras="attributes",
        max_len={"product_id": 128, "category": 256, "brand": 256},
    ),
    "events": EntitySpec(
        name="events",
        table="events",
        columns={
            "event_id": "str", "customer_id": "id", "product_id": "str", "event_type": "etype", "timestamp": "ts",
            "value": "float", "quantity": "float", "revenue": "float", "channel": "str", "session_id": "str",
        },
        required=("customer_id", "event_type", "timestamp"),
        key=("event_id",),
        extras="context",
        renames={"timestamp": "ts"},
        max_len={"event_id": 128, "customer_id": 128, "product_id": 128, "event_type": 64, "channel": 64, "session_id": 128},
    ),
    "reviews": EntitySpec(
        name="reviews",
        table="reviews",
        columns={
            "review_id": "id", "customer_id": "id", "product_id": "id", "rating": "float", "text": "text",
            "lang": "str", "timestamp": "ts",
        },
        required=("customer_id", "product_id"),  # a missing review_id is derived from the review's content
        key=("review_id",),
        renames={"timestamp": "ts"},
        max_len={"review_id": 128, "customer_id": 128, "product_id": 128, "lang": 16},
    ),
    "consents": EntitySpec(
        name="consents",
        table="consents",
        columns={
            "customer_id": "id", "channel": "str", "purpose": "str", "granted": "bool", "timestamp": "ts", "source": "str",
        },
        required=("customer_id", "channel", "purpose", "granted"),
        key=("row_hash",),
        renames={"timestamp": "ts"},
        max_len={"customer_id": 128, "channel": 32, "purpose": 64, "source": 128},
    ),
}

# Event types Persona knows; others are kept as they are (lower-cased, spaces -> underscores).
KNOWN_EVENT_TYPES = (
    "view", "click", "add_to_cart", "remove_from_cart", "purchase", "refund", "rating", "wishlist", "search",
    "email_open", "email_click", "email_unsubscribe", "conversion",
)


def get_spec(entity: str) -> EntitySpec:
    """The spec of ``entity``.

    Raises:
        InputError: unknown entity, listing the known ones.
    """
    from persona.errors import InputError

    try:
        return SPECS[entity]
    except KeyError:
        raise InputError(f"unknown entity {entity!r}", hint=f"use one of: {', '.join(ENTITY_ORDER)}") from None
