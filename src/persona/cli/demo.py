"""``persona demo generate``: write the realistic synthetic demo shop as canonical CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, settings_for

app = typer.Typer(help="The synthetic demo shop: generate customers, products, events, reviews, consents.",
                  no_args_is_help=True)


@app.command("generate")
def generate(
    customers: Annotated[int, typer.Option("--customers", help="Number of customers.")] = 3000,
    products: Annotated[int, typer.Option("--products", help="Number of products (at least 25).")] = 600,
    days: Annotated[int, typer.Option("--days", help="Days of activity to simulate.")] = 365,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the same files.")] = 42,
    start: Annotated[str, typer.Option("--start", help="First day of the window (YYYY-MM-DD, UTC).")] = "2025-01-01",
    out: Annotated[Path | None, typer.Option("--out", help="Folder to write (default: <workspace>/demo).",
                                             show_default=False)] = None,
    dirty: Annotated[bool, typer.Option("--dirty", help="Add a few bad rows (duplicates, bad timestamps, missing ids).")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate the demo shop and print each file with its row count."""
    from persona.demo import build_shop, write_shop

    target = out if out is not None else settings_for(workspace).workspace / "demo"
    shop = build_shop(customers=customers, products=products, days=days, seed=seed, start=start, dirty=dirty)
    paths = write_shop(shop, target)
    counts = shop.counts()
    if as_json:
        emit({"out": str(target), "seed": seed, "dirty": dirty,
              "files": {name: {"path": str(p), "rows": counts[name]} for name, p in paths.items()}}, True)
    else:
        emit([{"entity": name, "rows": counts[name], "path": str(p)} for name, p in paths.items()], False,
             title=f"demo shop written to {target}")
