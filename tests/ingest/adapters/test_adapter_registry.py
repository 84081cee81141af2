"""The adapter registry and the errors every adapter shares."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.errors import DataFileError, InputError
from persona.ingest.adapters import ADAPTERS, Adapter, get_adapter


def test_registry_lists_the_five_layouts():
    assert set(ADAPTERS) == {"movielens", "cdnow", "retail", "taobao", "rees46"}
    for name, adapter in ADAPTERS.items():
        assert isinstance(adapter, Adapter)
        assert adapter.name == name and len(adapter.description) > 20


def test_lookup_is_forgiving_about_case_and_dashes():
    assert get_adapter("MovieLens") is ADAPTERS["movielens"]
    assert get_adapter("REES-46") is ADAPTERS["rees46"]


def test_unknown_adapter_lists_the_valid_ones():
    with pytest.raises(InputError) as exc:
        get_adapter("netflix")
    msg = str(exc.value)
    assert "netflix" in msg
    for name in ADAPTERS:
        assert name in msg


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_missing_path_is_a_data_file_error(name, tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        get_adapter(name).read(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "looked_for"),
    [("movielens", ["*.inter", "u.data", "ratings.csv"]), ("cdnow", ["CDNOW_master.txt", "CDNOW_sample.txt"]),
     ("retail", ["*.csv"]), ("taobao", ["UserBehavior*.csv"]), ("rees46", ["*.csv"])],
)
def test_folder_without_the_files_names_what_it_looked_for(name, looked_for, tmp_path):
    (tmp_path / "readme.md").write_text("nothing here")
    with pytest.raises(DataFileError) as exc:
        get_adapter(name).read(tmp_path)
    for pattern in looked_for:
        assert pattern in str(exc.value)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_bad_chunk_size_is_refused(name, tmp_path):
    with pytest.raises(InputError, match="chunk_size"):
        get_adapter(name).read(tmp_path, chunk_size=0)


def test_read_is_lazy_and_yields_frames(tmp_path):
    f = tmp_path / "UserBehavior.csv"
    f.write_text("1,10,100,pv,1511544070\n")
    chunks = get_adapter("taobao").read(f)
    f.write_text("2,20,200,buy,1511544071\n")  # read() itself has not consumed the file yet
    events = pd.concat(chunks["events"])
    assert events["customer_id"].tolist() == ["2"]
