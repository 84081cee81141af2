"""Personal messages from sandboxed Jinja2 templates: subject, plain text and HTML blocks, in en and zh.

A template is one file with three blocks (``subject``, ``text``, ``html``). The built-in one covers every
strategy; a group may name its own file. Undefined fields are errors, found at validation time by
rendering every template against a sample context.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment

from persona.campaigns.spec import TEMPLATE_SUFFIXES
from persona.errors import InputError

LANGS = ("en", "zh")
BLOCKS = ("subject", "text", "html")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=32)
def _env(extra_dir: str | None, html: bool) -> Environment:
    """Environments (cached): HTML escapes every value, subject and text do not.

    User templates (``extra_dir``) run sandboxed; the built-in ones ship with Persona and are trusted, so they
    skip the sandbox's per-attribute checks, which cost a third of the rendering time.
    """
    loaders: list[Any] = [PackageLoader("persona.campaigns", "templates")]
    cls: type[Environment] = Environment
    if extra_dir:
        loaders.insert(0, FileSystemLoader(extra_dir))
        cls = SandboxedEnvironment
    return cls(loader=ChoiceLoader(loaders), undefined=StrictUndefined, autoescape=html, auto_reload=False)


def _template_name(template: str | None, lang: str) -> tuple[str, str | None]:
    if not template:
        return f"message.{lang}.j2", None
    p = Path(template)
    if p.suffix in TEMPLATE_SUFFIXES:
        return p.name, str(p.parent.resolve())
    return f"{template}.{lang}.j2", None


def render(template: str | None, lang: str, context: dict[str, Any]) -> Rendered:
    """Render the three blocks of a template for one customer.

    Raises:
        InputError: the template is missing, malformed or uses a field the context lacks.
    """
    lang = lang if lang in LANGS else "en"
    name, folder = _template_name(template, lang)
    try:
        tmpl = _env(folder, False).get_template(name)
        missing = [b for b in BLOCKS if b not in tmpl.blocks]
        if missing:
            raise InputError(f"template {name} lacks block(s) {', '.join(missing)}", hint="define {% block subject %}, text and html")
        out = {}
        for t, blocks in ((tmpl, ("subject", "text")), (_env(folder, True).get_template(name), ("html",))):
            ctx = t.new_context(dict(context))
            for _ in t.root_render_func(ctx):  # runs the top-level set/import statements the blocks use
                pass
            for block in blocks:
                out[block] = "".join(t.blocks[block](ctx)).strip()
    except UndefinedError as exc:
        raise InputError(f"template {name} ({lang}): {exc.message}", hint="fix the template or the field name") from exc
    except TemplateError as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise InputError(f"template {name} ({lang}){where}: {exc.message or exc}") from exc
    return Rendered(subject=" ".join(out["subject"].split()), text=out["text"], html=out["html"])


def sample_context(strategy: str, lang: str = "en") -> dict[str, Any]:
    """A complete context with placeholder values, used to validate templates before any send."""
    return {
        "customer": {"customer_id": "C-sample", "first_name": "Alex", "name": "Alex Sample", "language": lang},
        "strategy": strategy,
        "offer": {"type": "coupon", "discount_pct": 10, "code": "SAMPLE10", "expires": "2030-01-31"},
        "items": [{"product_id": "P1", "title": "Sample product", "price": 19.9, "url": "http://x/p/P1", "image_url": None, "reason": "because you viewed X"}],
        "campaign": "sample",
        "unsubscribe_url": "http://x/t/unsub/sample",
        "open_pixel_url": "http://x/t/open/sample.gif",
        "shop_name": "Persona Shop",
        "currency": "$",
        "lang": lang,
    }


def validate_template(template: str | None, strategy: str) -> None:
    """Render a template in every language against the sample context; raise on any problem."""
    for lang in LANGS:
        name, folder = _template_name(template, lang)
        if folder and not (Path(folder) / name).is_file():
            raise InputError(f"template file {Path(folder) / name} does not exist")
        render(template, lang, sample_context(strategy, lang))
