"""The campaign spec: a YAML file validated into typed settings, with errors that point into the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from persona.errors import InputError

#: Strategies whose items come from the recommender.
RECOMMENDING = ("coupon", "recommendations", "winback")
STRATEGIES = ("coupon", "new_arrivals", "recommendations", "winback", "cross_sell", "cart_abandonment")
ChannelType = Literal["email", "webhook", "export", "outbox"]
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


#: a group's ``template`` with one of these endings names a file (otherwise a built-in template's name)
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".html", ".txt")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Audience(_Model):
    """Who is eligible: segments (``method:segment_id``) and/or a predicate, minus exclusions."""

    segments: list[str] = Field(default_factory=list)
    where: str | None = None
    exclude_segments: list[str] = Field(default_factory=list)
    exclude_where: str | None = None
    exclude_customers: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)

    @field_validator("segments", "exclude_segments", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Group(_Model):
    """An audience group with its strategy: the first group whose ``when`` matches a customer wins."""

    name: str
    when: str | None = None
    segments: list[str] = Field(default_factory=list)
    strategy: Literal["coupon", "new_arrivals", "recommendations", "winback", "cross_sell", "cart_abandonment"]
    offer: dict[str, Any] = Field(default_factory=dict)
    items: int = Field(default=3, ge=0, le=20)
    #: recommendation strategies: products the customer viewed but did not buy may be picked too ("still
    #: interested?"); with the ``repeat`` model active they are ranked against new products
    include_seen: bool = False
    template: str | None = None

    @field_validator("segments", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("offer")
    @classmethod
    def _offer(cls, v: dict[str, Any]) -> dict[str, Any]:
        # the keys the coupon is made of; any other key reaches the templates as written
        pct = v.get("discount_pct")
        if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100):
            raise ValueError(f"discount_pct must be a percentage from 0 to 100, got {pct!r} (15 means 15% off)")
        days = v.get("valid_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650):
            raise ValueError(f"valid_days must be a whole number of days from 1 to 3650, got {days!r}")
        prefix = v.get("code_prefix")
        if prefix is not None and not (isinstance(prefix, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,16}", prefix)):
            raise ValueError(f"code_prefix must be 1-16 letters, digits, '_' or '-', got {prefix!r}")
        return v

    @model_validator(mode="after")
    def _seen_needs_picks(self) -> Group:
        if self.include_seen and self.strategy not in RECOMMENDING:
            raise ValueError(f"`include_seen` applies to groups whose strategy recommends ({', '.join(RECOMMENDING)}), "
                             f"not {self.strategy}")
        return self


class ChannelSpec(_Model):
    """Where messages go. Secrets are named by environment variable, never written in the file."""

    type: ChannelType = "outbox"
    # email
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    ca_file: str | None = None  # PEM bundle of a private CA that signed the server's certificate
    username: str | None = None
    password_env: str | None = None
    from_address: str = "Persona Shop <shop@example.com>"
    rate_per_second: float = Field(default=0.0, ge=0)  # 0: unlimited
    timeout: float = Field(default=10.0, gt=0)
    connections: int = Field(default=4, ge=1, le=32)  # parallel SMTP connections / webhook requests
    # webhook
    url: str | None = None
    secret_env: str | None = None
    # export / outbox
    path: str | None = None
    format: Literal["csv", "jsonl"] = "jsonl"

    @model_validator(mode="after")
    def _needs(self) -> ChannelSpec:
        if self.type == "webhook" and not self.url:
            raise ValueError("a webhook channel needs `url`")
        return self


class Schedule(_Model):
    type: Literal["once", "recurring", "trigger"] = "once"
    cron: str | None = None
    trigger: Literal["cart_abandoned", "purchase", "churn_risk"] | None = None
    delay_hours: float = Field(default=4.0, ge=0)
    threshold: float = Field(default=0.6, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.type == "recurring":
            if not self.cron:
                raise ValueError("a recurring schedule needs `cron`, e.g. '0 9 * * MON'")
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"`cron` {self.cron!r} is not a valid cron expression (minute hour day month weekday)")
        if self.type == "trigger" and not self.trigger:
            raise ValueError("a trigger schedule needs `trigger`: cart_abandoned, purchase or churn_risk")
        return self


class FrequencyCap(_Model):
    max_messages: int = Field(default=3, ge=1)
    per_days: float = Field(default=7, gt=0)


class QuietHours(_Model):
    start: str = "21:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _TIME.match(v):
            raise ValueError(f"{v!r} is not a time of day as HH:MM (24 h)")
        return v


class ExperimentSpec(_Model):
    holdout: float = Field(default=0.1, ge=0, lt=1)
    variants: dict[str, float] = Field(default_factory=lambda: {"A": 1.0})

    @field_validator("variants")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(w <= 0 for w in v.values()):
            raise ValueError("variants need positive weights, e.g. {A: 0.5, B: 0.5}")
        return v


class Parity(_Model):
    """A floor on each customer group's contact rate under the budget (see :mod:`persona.campaigns.parity`).

    Every judged group (a known value with at least ``min_group`` customers in the live audience) must be
    contacted at a rate of at least ``min_ratio`` times the highest judged group's rate; 0.8 is the four-fifths
    rule the fairness audit checks.
    """

    attribute: str
    min_ratio: float = 0.8
    #: groups with fewer live customers are not judged (default: the fairness audit's ``MIN_GROUP``)
    min_group: int | None = Field(default=None, validate_default=True)

    @field_validator("attribute")
    @classmethod
    def _known_attribute(cls, v: str) -> str:
        from persona.fairness.groups import ATTRIBUTES  # imported late: the fairness package pulls in scipy

        if v not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {v!r} for parity; allowed: {', '.join(ATTRIBUTES)} "
                             "(the customer groups the fairness audit builds)")
        return v

    @field_validator("min_ratio")
    @classmethod
    def _ratio(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError(f"min_ratio must lie in (0, 1], got {v!r}; e.g. 0.8 for the four-fifths rule, 1 for equal rates")
        return v

    @field_validator("min_group")
    @classmethod
    def _group(cls, v: int | None) -> int:
        if v is None:
            from persona.fairness.measures import MIN_GROUP

            return MIN_GROUP
        if v < 2:
            raise ValueError(f"min_group must be at least 2, got {v!r}; leave it out for the audit's default")
        return v


class Budget(_Model):
    total: float = Field(gt=0)
    cost_per_message: float = Field(default=0.0, ge=0)
    margin: float = Field(default=0.3, gt=0, le=1)
    parity: Parity | None = None

    @model_validator(mode="before")
    @classmethod
    def _parity_needs_total(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("parity") is not None and data.get("total") is None:
            raise ValueError("`parity` constrains who the budget selects, so it needs the budget's `total`, "
                             "e.g. budget: {total: 500, cost_per_message: 0.002, parity: {attribute: age}}")
        return data


class CampaignSpec(_Model):
    """A campaign: audience, a strategy per group, channels, schedule, caps, experiment and budget."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    description: str = ""
    #: where each value sits in the file it was parsed from (for the checks made after parsing: :meth:`where`)
    _marks: dict[tuple[Any, ...], tuple[int, int]] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<campaign>")
    purpose: str = "marketing"
    audience: Audience = Field(default_factory=Audience)
    groups: list[Group] = Field(min_length=1)
    channels: list[ChannelSpec] = Field(default_factory=lambda: [ChannelSpec()])
    language: Literal["auto", "en", "zh"] = "auto"
    schedule: Schedule = Field(default_factory=Schedule)
    frequency_cap: FrequencyCap | None = Field(default_factory=FrequencyCap)
    quiet_hours: QuietHours | None = None
    experiment: ExperimentSpec | None = None
    budget: Budget | None = None
    base_url: str = "http://127.0.0.1:8000"
    conversion_window_days: float = Field(default=7, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)

    @model_validator(mode="before")
    @classmethod
    def _parity_needs_budget(cls, data: Any) -> Any:
        if isinstance(data, dict) and "parity" in data:
            raise ValueError("`parity` applies to the budget's selection only: without a budget everyone eligible is "
                             "contacted and there is nothing to balance; move it under `budget:` with a `total`, "
                             "e.g. budget: {total: 500, parity: {attribute: age, min_ratio: 0.8}}")
        return data

    def where(self, loc: tuple[Any, ...]) -> str:
        """``source:line:column`` of the value at ``loc`` (e.g. ``("groups", 0, "when")``) in the parsed file, or the
        source's name alone for a spec that did not come from a file (one stored, or built in code)."""
        return _place(self._marks, self._source, loc)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, v: Any) -> Any:
        if isinstance(v, str | dict):
            v = [v]
        return [{"type": c} if isinstance(c, str) else c for c in v]


# --- loading with locations ---------------------------------------------------------------------
def _marks(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Map each value's path in the document to its (line, column), 1-based."""
    out = {path: (node.start_mark.line + 1, node.start_mark.column + 1)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out.update(_marks(value, (*path, key.value)))
            out[(*path, key.value, "__key__")] = (key.start_mark.line + 1, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_marks(item, (*path, i)))
    return out


def _place(marks: dict[tuple[Any, ...], tuple[int, int]], source: str, loc: tuple[Any, ...], *, key: bool = False) -> str:
    """``source:line:column`` of ``loc`` (see :func:`_locate`), or ``source`` alone where it is not in the document."""
    pos = _locate(marks, loc, key=key)
    return f"{source}:{pos[0]}:{pos[1]}" if pos else source


def problems_error(lines: list[str]) -> InputError:
    """One error listing every located problem of a campaign spec (``source:line:column: field: problem``)."""
    err = InputError(f"{len(lines)} problem(s) in the campaign spec:\n  " + "\n  ".join(lines))
    err.problems = list(lines)  # type: ignore[attr-defined]  # one by one, for `persona campaign validate --json`
    return err


def _locate(marks: dict[tuple[Any, ...], tuple[int, int]], loc: tuple[Any, ...], *, key: bool = False) -> tuple[int, int] | None:
    """The position of the deepest part of ``loc`` present in the document (with ``key``: of the key itself)."""
    if key and (*loc, "__key__") in marks:
        return marks[(*loc, "__key__")]
    for n in range(len(loc), -1, -1):
        if loc[:n] in marks:
            return marks[loc[:n]]
    return None


def parse_spec(text: str, source: str = "<campaign>") -> CampaignSpec:
    """Parse and validate a campaign spec from YAML text.

    Raises:
        InputError: listing every mistake as ``source:line:column: field: problem``.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}: malformed YAML: {problem}", hint="check indentation and quoting") from exc
    if node is None or not isinstance(data, dict):
        raise InputError(f"{source}: a campaign spec must be a YAML mapping with at least `name` and `groups`")
    marks = _marks(node)
    try:
        spec = CampaignSpec.model_validate(data)
        spec._marks, spec._source = marks, source
        return spec
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = _place(marks, source, loc, key=err["type"] == "extra_forbidden")
            field = ".".join(str(x) for x in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling; see `persona campaign validate --help`)"
            lines.append(f"{where}: {field}: {msg}")
        raise problems_error(lines) from exc


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign spec file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"campaign file {p} does not exist", hint="pass the path of a YAML campaign spec")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p} is not UTF-8 text", hint="save the campaign spec as UTF-8 YAML") from exc
    spec = parse_spec(text, source=str(p))
    for g in spec.groups:  # a template file is named from the spec's folder, wherever the command or the worker runs
        if g.template and Path(g.template).suffix in TEMPLATE_SUFFIXES and not Path(g.template).is_absolute():
            g.template = str((p.parent / g.template).resolve())
    return spec
