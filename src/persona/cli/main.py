"""The ``persona`` command. Command groups live in their own modules and are mounted here."""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from persona.cli._common import err_console
from persona.errors import PersonaError

#: file-system errors about the path itself (a user's mistake: exit 2); the others (a full disk …) exit 4
PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS,
                         errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP})


class PersonaGroup(TyperGroup):
    """The root command: turns a user mistake into one line on stderr and its exit code (no traceback), and so a
    file-system error about a path (a folder that cannot be written, a file that vanished)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PersonaError as exc:
            err_console.print(f"error[{exc.code}]: {exc}", style="red", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            if exc.filename is None:  # not about a path the user gave: a bug's traceback is worth more
                raise
            where = exc.filename if exc.filename2 is None else f"{exc.filename} → {exc.filename2}"
            user_path = exc.errno in PATH_ERRNOS
            hint = ("check the path and its permissions" if user_path
                    else "check the disk (free space, quota, health) and run the command again")
            err_console.print(f"error[io]: {exc.strerror or exc}: {where} ({hint})", style="red", markup=False,
                              highlight=False, soft_wrap=True)
            raise typer.Exit(2 if user_path else 4) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: nothing half-written was kept; run the command again to finish")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=PersonaGroup,
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
    ("persona.cli.sync", "register", None),
    ("persona.cli.doctor", "register", None),
    ("persona.cli.demo", "app", "demo"),
    ("persona.cli.run", "register", None),
    ("persona.cli.campaign", "app", "campaign"),
    ("persona.cli.keys", "app", "keys"),
    ("persona.cli.serve", "register", None),
    ("persona.cli.train", "register", None),
    ("persona.cli.profiles", "app", "profiles"),
    ("persona.cli.segments", "app", "segments"),
    ("persona.cli.predict", "app", "predict"),
    ("persona.cli.basket", "app", "basket"),
    ("persona.cli.experiments", "app", "experiments"),
    ("persona.cli.recommend", "app", "recommend"),
    ("persona.cli.evaluate", "app", "evaluate"),
    ("persona.cli.text", "app", "text"),
    ("persona.cli.fairness", "register", None),
    ("persona.cli.privacy", "app", "privacy"),
    ("persona.cli.engine", "app", "engine"),
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
    """Entry point. User mistakes become one line on stderr and a non-zero exit code (see PersonaGroup)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        app(args=argv, prog_name="persona")
    except BrokenPipeError:  # `persona … | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
