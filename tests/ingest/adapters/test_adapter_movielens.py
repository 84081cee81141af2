"""MovieLens: RecBole atomic files, the classic u.* files and the ml-latest CSVs."""

from __future__ import annotations

import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import DataFileError
from persona.ingest.adapters import get_adapter


def _read(path, **kw):
    return {k: pd.concat(list(v), ignore_index=True) for k, v in get_adapter("movielens").read(path, **kw).items()}


def test_shared_ml100k_recbole_counts():
    out = _read(shared_data("ml-100k"), chunk_size=30_000)
    ev, items, users = out["events"], out["products"], out["customers"]
    assert len(ev) == 100_000 and ev["event_id"].is_unique
    assert ev["customer_id"].nunique() == 943 and ev["product_id"].nunique() == 1682
    assert len(items) == 1682 and len(users) == 943
    assert set(ev["event_type"]) == {"rating"} and set(ev["value"]) == {1, 2, 3, 4, 5}
    first = ev.iloc[0]  # u.data row order is kept: 196 242 3 881250949
    assert (first["customer_id"], first["product_id"], first["value"]) == ("196", "242", 3)
    assert first["event_id"] == "ml:196:242:881250949"
    assert first["timestamp"] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert ev["timestamp"].min().year == 1997 and ev["timestamp"].max().year == 1998
    toy = items.set_index("product_id").loc["1"]
    assert toy["title"] == "Toy Story" and toy["year"] == 1995 and toy["category"] == "Movies > Animation"
    assert toy["genres"] == "Animation|Children's|Comedy"
    u1 = users.set_index("customer_id").loc["1"]
    assert (u1["gender"], u1["birth_year"], u1["occupation"], u1["zip_code"]) == ("male", 1998 - 24, "technician", "85711")


def test_shared_ml100k_accepts_the_inter_file_itself():
    out = _read(shared_data("ml-100k", "ml-100k.inter"))
    assert len(out["events"]) == 100_000 and len(out["products"]) == 1682


def _classic(folder):
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t2\t881250950\n1\t20\t5\t881250951\n")
    flags = ["0"] * 19
    action = flags.copy()
    action[1] = action[16] = "1"  # Action, Thriller
    unknown = flags.copy()
    unknown[0] = "1"
    (folder / "u.item").write_bytes(
        ("10|Amélie (2001)|01-Jan-2001||http://x|" + "|".join(action) + "\n"
         "20|unknown||||" + "|".join(unknown) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def test_classic_u_files(tmp_path):
    out = _read(_classic(tmp_path / "ml"))
    ev = out["events"]
    assert ev["event_id"].tolist() == ["ml:1:10:881250949", "ml:2:10:881250950", "ml:1:20:881250951"]
    assert ev["value"].tolist() == [4, 2, 5]
    items = out["products"].set_index("product_id")
    assert items.loc["10", "title"] == "Amélie"  # latin-1 decoded
    assert items.loc["10", "genres"] == "Action|Thriller" and items.loc["10", "category"] == "Movies > Action"
    assert items.loc["10", "year"] == 2001 and pd.isna(items.loc["20", "year"])
    assert items.loc["20", "category"] == "Movies > unknown"
    users = out["customers"].set_index("customer_id")
    assert users.loc["2", "gender"] == "female" and users.loc["2", "birth_year"] == 1945


def test_classic_u_data_file_path_works(tmp_path):
    folder = _classic(tmp_path / "ml")
    assert len(_read(folder / "u.data")["events"]) == 3


def test_recbole_synthetic_chunks_add_up(tmp_path):
    (tmp_path / "x.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{900000000 + u * 10 + i}\n" for u in range(1, 8) for i in range(1, 4)))
    (tmp_path / "x.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                     "1\tHeat\t1995\tAction Crime\n2\tBig\t1988\tComedy\n")
    chunks = list(get_adapter("movielens").read(tmp_path, chunk_size=5)["events"])
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 1]
    out = _read(tmp_path)
    assert "customers" not in out  # no .user file: customers come as stubs from the events
    assert out["products"].set_index("product_id").loc["1", "genres"] == "Action|Crime"


def test_ml_latest_csv(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n")
    (tmp_path / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                                         '3,"Grumpier Old Men, The (1995)",Comedy|Romance\n')
    out = _read(tmp_path)
    assert out["events"]["value"].tolist() == [4.0, 3.5]
    items = out["products"].set_index("product_id")
    assert items.loc["3", "title"] == "Grumpier Old Men, The" and items.loc["3", "year"] == 1995


def test_folder_with_other_files_names_the_layouts(tmp_path):
    (tmp_path / "u.item").write_text("1|x||||0\n")
    with pytest.raises(DataFileError, match=r"\*\.inter.*u\.data.*ratings\.csv"):
        get_adapter("movielens").read(tmp_path)
