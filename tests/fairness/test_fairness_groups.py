"""Customer groups: age bands, unknown values, attribute checks."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.errors import InputError
from persona.fairness import age_band, customer_groups, present_attributes


def test_age_bands_cover_the_edges_and_unknowns() -> None:
    ages = pd.Series([0, 24, 25, 34.9, 35, 64, 65, 99, None, -3, 150])
    assert age_band(ages).tolist() == ["under 25", "under 25", "25-34", "25-34", "35-44", "55-64", "65+", "65+",
                                       "unknown", "unknown", "unknown"]


def test_groups_from_birth_year_gender_and_country() -> None:
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "gender": ["female", None, "male", " "],
                              "birth_year": [2000, 1980, None, 1950], "country": ["DE", "FR", "DE", None]})
    g = customer_groups(customers, ["gender", "age", "country"], as_of_year=2026)
    assert g.loc["a"].tolist() == ["female", "25-34", "DE"]
    assert g.loc["b"].tolist() == ["unknown", "45-54", "FR"]
    assert g.loc["c", "age"] == "unknown" and g.loc["d", "gender"] == "unknown" and g.loc["d", "age"] == "65+"
    assert present_attributes(customers) == ["gender", "age", "country"]
    # an 'age' column (MovieLens) works where there is no birth year
    ml = pd.DataFrame({"customer_id": [1, 2], "age": [24, 53], "occupation": ["writer", "other"]})
    assert customer_groups(ml, ["age", "occupation"]).loc[2].tolist() == ["45-54", "other"]
    assert customer_groups(ml).columns.tolist() == ["age", "occupation"]  # default: what the customers carry


def test_unknown_or_absent_attributes_are_refused_with_what_there_is() -> None:
    customers = pd.DataFrame({"customer_id": ["a", "b"], "gender": ["female", "male"], "country": ["DE", "DE"]})
    with pytest.raises(InputError, match="unknown customer attribute 'height'") as e:
        customer_groups(customers, ["height"])
    assert "gender, age" in (e.value.hint or "")
    with pytest.raises(InputError, match="no 'country' with two or more known values") as e:
        customer_groups(customers, ["country"])  # one country only: nothing to compare
    assert "gender" in (e.value.hint or "")
    with pytest.raises(InputError, match="'customer_id' column"):
        customer_groups(pd.DataFrame({"id": [1]}), ["gender"])
