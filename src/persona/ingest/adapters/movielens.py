"""MovieLens: ratings, movies and users, from the classic ``u.data``/``u.item``/``u.user`` files, RecBole atomic
files (``*.inter``/``*.item``/``*.user`` with ``name:type`` headers) or the ``ratings.csv``/``movies.csv`` layout."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import DataFileError
from persona.ingest.adapters.base import (
    Adapter,
    Chunks,
    check_chunk_size,
    find_file,
    lazy,
    make_id,
    require_path,
    text_id,
    to_utc_seconds,
)

GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
REFERENCE_YEAR = 1998  # MovieLens 100K was collected 1997-09 to 1998-04: ages are turned into birth years from 1998
GENDERS = {"M": "male", "F": "female"}


def _rating_events(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical rating events from columns user, item, rating, ts (unix seconds)."""
    user, item = text_id(df["user"]), text_id(df["item"])
    ts_num = pd.to_numeric(df["ts"], errors="coerce")
    return pd.DataFrame({
        "event_id": make_id("ml", user, item, ts_num),
        "customer_id": user,
        "product_id": item,
        "event_type": "rating",
        "timestamp": to_utc_seconds(ts_num),
        "value": pd.to_numeric(df["rating"], errors="coerce"),
    })


def _genre_category(genres: pd.Series) -> pd.Series:
    first = genres.fillna("").str.split("|").str[0].replace({"": "unknown", "(no genres listed)": "unknown"})
    return "Movies > " + first


def _customers(df: pd.DataFrame) -> pd.DataFrame:
    age = pd.to_numeric(df["age"], errors="coerce")
    return pd.DataFrame({
        "customer_id": text_id(df["user"]),
        "gender": df["gender"].map(GENDERS).fillna(df["gender"]),
        "birth_year": (REFERENCE_YEAR - age).astype("Int64"),
        "age_at_collection": age.astype("Int64"),
        "occupation": df["occupation"],
        "zip_code": df["zip"].astype("string"),
    })


class MovieLensAdapter(Adapter):
    """MovieLens ratings as ``rating`` events (value = stars), movies as products, users as customers."""

    name = "movielens"
    description = ("MovieLens ratings/movies/users: classic u.data+u.item+u.user (100K), RecBole atomic files "
                   "(*.inter/*.item/*.user) or ratings.csv+movies.csv (ml-latest)")

    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        check_chunk_size(chunk_size)
        p = require_path(path, self.name)
        folder = p if p.is_dir() else p.parent
        if (p.is_file() and p.suffix == ".inter") or (p.is_dir() and any(folder.glob("*.inter"))):
            return self._recbole(p, chunk_size)
        if (p.is_file() and p.name == "u.data") or (folder / "u.data").exists():
            return self._classic(folder, chunk_size)
        if (p.is_file() and p.name == "ratings.csv") or (folder / "ratings.csv").exists():
            return self._latest(folder, chunk_size)
        raise DataFileError(
            f"movielens: no ratings file in {folder}: looked for *.inter (RecBole), u.data (classic 100K) "
            "and ratings.csv (ml-latest)",
            hint="point --adapter movielens at the MovieLens folder",
        )

    # --- RecBole atomic files ----------------------------------------------------------------------
    def _recbole(self, p: Path, chunk_size: int) -> Chunks:
        inter = find_file(p, self.name, ["*.inter"], what="interaction (*.inter)")
        stem = inter.with_suffix("")
        item, user = stem.with_suffix(".item"), stem.with_suffix(".user")

        def atomic(f: Path, **kw) -> pd.DataFrame | Iterator[pd.DataFrame]:
            header = f.open(encoding="utf-8").readline().rstrip("\n").split("\t")
            names = [h.split(":", 1)[0] for h in header]
            return pd.read_csv(f, sep="\t", header=0, names=names, dtype=str, quoting=csv.QUOTE_NONE,
                               keep_default_na=False, na_values=[""], encoding="utf-8", **kw)

        def events() -> Iterator[pd.DataFrame]:
            for df in atomic(inter, chunksize=chunk_size):
                yield _rating_events(df.rename(columns={"user_id": "user", "item_id": "item", "timestamp": "ts"}))

        def products() -> Iterator[pd.DataFrame]:
            df = atomic(item)
            genres = df.get("class", pd.Series(index=df.index, dtype=str)).fillna("").str.split().str.join("|")
            year = pd.to_numeric(df.get("release_year"), errors="coerce").astype("Int64")
            title = df.get("movie_title", pd.Series(index=df.index, dtype=str)).replace({"unkonwn": "unknown"})
            yield pd.DataFrame({"product_id": text_id(df["item_id"]), "title": title, "category": _genre_category(genres),
                                "genres": genres, "year": year})

        def customers() -> Iterator[pd.DataFrame]:
            df = atomic(user).rename(columns={"user_id": "user", "zip_code": "zip"})
            yield _customers(df)

        out: Chunks = {}
        if user.exists():
            out["customers"] = lazy(customers)
        if item.exists():
            out["products"] = lazy(products)
        out["events"] = lazy(events)
        return out

    # --- classic 100K files ------------------------------------------------------------------------
    def _classic(self, folder: Path, chunk_size: int) -> Chunks:
        data = find_file(folder, self.name, ["u.data"], what="ratings (u.data)")
        item, user = folder / "u.item", folder / "u.user"

        def events() -> Iterator[pd.DataFrame]:
            for df in pd.read_csv(data, sep="\t", header=None, names=["user", "item", "rating", "ts"], dtype=str,
                                  chunksize=chunk_size):
                yield _rating_events(df)

        def products() -> Iterator[pd.DataFrame]:
            cols = ["item", "title", "release_date", "video_release_date", "imdb_url", *GENRES]
            df = pd.read_csv(item, sep="|", header=None, names=cols, dtype=str, encoding="latin-1",
                             quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""])
            flags = df[list(GENRES)].fillna("0").astype(int).to_numpy().astype(bool)
            genres = pd.Series(["|".join(np.array(GENRES)[row]) for row in flags], index=df.index)
            genres = genres.str.replace(r"^unknown\|", "", regex=True)
            year = pd.to_datetime(df["release_date"], format="%d-%b-%Y", errors="coerce").dt.year.astype("Int64")
            title = df["title"].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True)
            yield pd.DataFrame({"product_id": text_id(df["item"]), "title": title, "category": _genre_category(genres),
                                "genres": genres, "year": year, "release_date": df["release_date"],
                                "imdb_url": df["imdb_url"]})

        def customers() -> Iterator[pd.DataFrame]:
            df = pd.read_csv(user, sep="|", header=None, names=["user", "age", "gender", "occupation", "zip"], dtype=str)
            yield _customers(df)

        out: Chunks = {}
        if user.exists():
            out["customers"] = lazy(customers)
        if item.exists():
            out["products"] = lazy(products)
        out["events"] = lazy(events)
        return out

    # --- ml-latest ratings.csv / movies.csv ---------------------------------------------------------
    def _latest(self, folder: Path, chunk_size: int) -> Chunks:
        ratings = find_file(folder, self.name, ["ratings.csv"], what="ratings (ratings.csv)")
        movies = folder / "movies.csv"

        def events() -> Iterator[pd.DataFrame]:
            for df in pd.read_csv(ratings, dtype=str, chunksize=chunk_size):
                yield _rating_events(df.rename(columns={"userId": "user", "movieId": "item", "timestamp": "ts"}))

        def products() -> Iterator[pd.DataFrame]:
            df = pd.read_csv(movies, dtype=str)
            year = pd.to_numeric(df["title"].str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype("Int64")
            title = df["title"].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True)
            yield pd.DataFrame({"product_id": text_id(df["movieId"]), "title": title,
                                "category": _genre_category(df["genres"]), "genres": df["genres"], "year": year})

        out: Chunks = {}
        if movies.exists():
            out["products"] = lazy(products)
        out["events"] = lazy(events)
        return out
