"""The ``persona`` command. Command groups live in their own modules and are mounted here."""

from __future__ import annotations

import importlib
import logging
import sys

import click
import typer

from persona.cli._common import err_console
from persona.errors import PersonaError

app = typer.Typer(
    name="persona",
    help="Persona: self-hosted AI-driven personalized marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, attribute, group name or None for top-level commands). One line per command group.
COMMANDS: list[tuple[str, str, str | None]] = [
    ("persona.cli.workspace", "register", None),
    ("persona.cli.ingest", "register", None),
    ("persona.cli.demo", "app", "demo"),
    ("persona.cli.run", "register", None),
]


def _mount() -> None:
    for module, attr, group in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an optional extra (api, deep) that is not installed
            if exc.name and exc.name.startswith("persona") and exc.name != module:
                raise
            continue
        obj = getattr(mod, attr)
        if group is None:
            obj(app)
        else:
            app.add_typer(obj, name=group)


_mount()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user mistakes into one line on stderr and an exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        rv = app(args=argv, standalone_mode=False)
    except PersonaError as exc:
        err_console.print(f"[red]error[{exc.code}][/red]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing half-written was kept; run the command again to finish")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
