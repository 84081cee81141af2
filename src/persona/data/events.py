"""Default weights of event types: how much one event says about a customer's interest in a product."""

from __future__ import annotations

#: Weight of one event of each type in the interaction matrix. A ``rating`` counts its value.
#: Types not listed count ``OTHER_EVENT_WEIGHT``. Override per call with ``event_weights=``. An event that weighs
#: 0 is no interaction: taking a product out of the cart or sending it back adds no interest to the add to cart or
#: purchase before it (and a pair whose events all weigh 0 is not in the matrix).
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "purchase": 5.0,
    "add_to_cart": 3.0,
    "wishlist": 3.0,
    "click": 2.0,
    "view": 1.0,
    "email_click": 1.0,
    "remove_from_cart": 0.0,
    "refund": 0.0,
}
OTHER_EVENT_WEIGHT = 0.5
RATING_EVENT = "rating"

#: Event types in the order of how strong a signal they are; used to phrase reasons
#: ("because you bought X" beats "because you viewed X").
EVENT_STRENGTH: dict[str, int] = {
    "purchase": 7,
    "rating": 6,
    "add_to_cart": 5,
    "wishlist": 4,
    "click": 3,
    "email_click": 2,
    "view": 1,
}

#: The verb a reason uses for each event type.
EVENT_VERBS: dict[str, str] = {
    "purchase": "bought",
    "rating": "rated",
    "add_to_cart": "added to your cart",
    "wishlist": "saved",
    "click": "clicked",
    "email_click": "clicked",
    "view": "viewed",
}
