"""Dashboard routes under ``/ui``: overview, segments, customer 360, models, campaigns, experiments, sources.

Sign-in takes an API key (read scope or higher); the session is a signed, expiring, HttpOnly cookie.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from persona.api.deps import AppState, state
from persona.api.keys import verify_key
from persona.display import number, when
from persona.errors import PersonaError
from persona.jsonvalues import dumps
from persona.web import charts

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["charts"] = charts
TEMPLATES.env.filters["pretty"] = lambda v: dumps(v, indent=2)
TEMPLATES.env.filters["num"] = number  # 12,345 and 0.4271, never 1.234e+04
TEMPLATES.env.filters["when"] = when  # 2025-11-29 06:31:16 UTC

#: at most this many of a model's top-level number metrics are shown in its row (the rest unfold)
HEADLINE_METRICS = 6


def _headline(metrics: object) -> list[tuple[str, float]]:
    """A model's top-level number metrics (``auc``, ``ndcg@10`` …), the first :data:`HEADLINE_METRICS`; nested ones
    (a backtest's per-model tables) stay in the unfolded JSON."""
    if not isinstance(metrics, dict):
        return []
    out = [(str(k), float(v)) for k, v in metrics.items()
           if isinstance(v, int | float) and not isinstance(v, bool) and v == v]
    return out[:HEADLINE_METRICS]


TEMPLATES.env.filters["headline"] = _headline
COOKIE = "persona_session"
SESSION_SECONDS = 8 * 3600
RECENT_JOBS = 5  # background pulls listed on the Sources page
router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginRequired(Exception):
    pass


def _session(request: Request, st: AppState) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE, "")
    try:
        prefix, scope, exp, sig = raw.split(".")
    except ValueError:
        raise LoginRequired from None
    if not st.keys.signer().check(sig, prefix, scope, exp) or int(exp) < time.time():
        raise LoginRequired
    return {"prefix": prefix, "scope": scope, "exp": exp}


def csrf_token(st: AppState, u: dict[str, Any]) -> str:
    """The token a dashboard form posts back: bound to the session, so another site cannot forge the action."""
    return st.keys.signer().sign("csrf", u["prefix"], u["exp"])


def user(request: Request, st: AppState = Depends(state)) -> dict[str, Any]:
    return _session(request, st)


def _page(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"page": name.split(".")[0], **ctx})


def _json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", error=error)


@router.post("/login")
def login(request: Request, api_key: str = Form(..., max_length=200), st: AppState = Depends(state)) -> Response:
    row = verify_key(st.store, api_key.strip())
    if row is None:
        return _page(request, "login.html", error="That key is not valid (or was revoked).")
    exp = str(int(time.time()) + SESSION_SECONDS)
    value = ".".join([row.prefix, row.scope, exp, st.keys.signer().sign(row.prefix, row.scope, exp)])
    resp = RedirectResponse("/ui", status_code=303)
    resp.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="strict")
    return resp


@router.get("/logout")
def logout() -> Response:
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("", response_class=HTMLResponse)
def overview(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    s = st.store
    kpi = {
        "customers": s.read_frame("SELECT COUNT(*) AS n FROM customers WHERE erased_at IS NULL")["n"].iloc[0],
        "products": s.count("products"),
        "events": s.count("events"),
        "revenue": float(s.read_frame("SELECT COALESCE(SUM(revenue), 0) AS r FROM events WHERE event_type = 'purchase'")["r"].iloc[0]),
        "campaigns": s.count("campaigns"),
        "messages sent": int(s.read_frame("SELECT COUNT(*) AS n FROM messages WHERE status = 'sent'")["n"].iloc[0]),
    }
    ev = s.read_frame("SELECT event_type, ts FROM events WHERE event_type IN ('view', 'add_to_cart', 'purchase')")
    chart = "<p class='muted'>no events yet</p>"
    if len(ev):
        ev["day"] = pd.to_datetime(ev["ts"], utc=True, format="mixed").dt.strftime("%Y-%m-%d")
        daily = ev.groupby(["day", "event_type"]).size().unstack(fill_value=0).tail(90)
        chart = charts.line(list(daily.index), {c: daily[c].tolist() for c in daily.columns})
    types = s.read_frame("SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type ORDER BY n DESC")
    return _page(request, "overview.html", user=u, kpi=kpi, chart=chart,
                 types=charts.bars(types["event_type"].tolist(), types["n"].astype(float).tolist()))


@router.get("/segments", response_class=HTMLResponse)
def segments(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    df = st.store.read_frame("SELECT method, segment_id, name, size, explanation FROM segments ORDER BY method, size DESC")
    groups = []
    for method, g in df.groupby("method", sort=True):
        rows = [{"segment_id": r.segment_id, "name": r.name, "size": int(r.size), "explanation": _json(r.explanation)} for r in g.itertuples()]
        groups.append({"method": method, "rows": rows, "chart": charts.bars([r["name"] for r in rows], [r["size"] for r in rows])})
    return _page(request, "segments.html", user=u, groups=groups)


@router.get("/customers", response_class=HTMLResponse)
def customer_search(request: Request, q: str | None = None, u: dict = Depends(user), st: AppState = Depends(state)) -> Response:
    if q:
        return RedirectResponse(f"/ui/customers/{q.strip()}", status_code=303)
    sample = st.store.read_frame("SELECT customer_id FROM customers WHERE erased_at IS NULL ORDER BY customer_id LIMIT 20")
    return _page(request, "customers.html", user=u, sample=sample["customer_id"].tolist())


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, customer_id: str, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    from persona.privacy.consent import consent_state

    s = st.store
    c = s.read_frame("SELECT customer_id, gender, birth_year, city, country, timezone, language, created_at, is_stub FROM customers "
                     "WHERE customer_id = :c AND erased_at IS NULL", {"c": customer_id})
    if c.empty:
        return _page(request, "customers.html", user=u, sample=[], error=f"No customer {customer_id!r}.")
    prof = s.read_frame("SELECT features FROM profiles WHERE customer_id = :c", {"c": customer_id})
    feats = _json(prof["features"].iloc[0]) if len(prof) else {}
    preds = s.read_frame("SELECT name, value FROM predictions WHERE customer_id = :c ORDER BY name", {"c": customer_id})
    segs = s.read_frame("SELECT m.method, m.segment_id, g.name FROM segment_memberships m LEFT JOIN segments g "
                        "ON g.method = m.method AND g.segment_id = m.segment_id WHERE m.customer_id = :c ORDER BY m.method",
                        {"c": customer_id})
    hist = s.read_frame("SELECT ts, event_type, product_id, revenue FROM events WHERE customer_id = :c ORDER BY ts DESC LIMIT 30", {"c": customer_id})
    msgs = s.read_frame("SELECT campaign, channel, status, reason, sent_at FROM messages WHERE customer_id = :c ORDER BY id DESC LIMIT 10", {"c": customer_id})
    try:
        recs, rec_error = st.recs.recommend(customer_id, 10), None
    except PersonaError as exc:
        recs, rec_error = [], str(exc)
    titles = {}
    if recs:
        ids = [r["product_id"] for r in recs]
        t = s.read_frame("SELECT product_id, title, price FROM products")
        titles = {p: (ti, pr) for p, ti, pr in zip(t["product_id"], t["title"], t["price"], strict=True) if p in set(ids)}
    consent = {ch: consent_state(s, ch, "marketing", [customer_id])[customer_id] for ch in ("email", "push", "ads")}
    return _page(request, "customer.html", user=u, c=c.iloc[0].to_dict(), features=feats or {},
                 preds=preds.to_dict(orient="records"), segs=segs.to_dict(orient="records"), hist=hist.to_dict(orient="records"),
                 msgs=msgs.to_dict(orient="records"), recs=recs, titles=titles, rec_error=rec_error, consent=consent)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    df = st.store.read_frame("SELECT name, version, kind, status, metrics, params, created_at FROM models ORDER BY name, version DESC")
    rows = [{**r, "metrics": _json(r["metrics"]), "params": _json(r["params"])} for r in df.to_dict(orient="records")]
    from persona.api.routers.models import serving_status

    status = serving_status(st)
    return _page(request, "models.html", user=u, rows=rows, serving=f"{st.recs.model_name} v{st.recs.model_version}" if st.recs.model else "none",
                 fresh=status["serving"], drift=status.get("drift"), last=status.get("last_retrain"), live=status.get("live_loop"))


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    from persona.campaigns.status import campaign_status

    names = st.store.read_frame("SELECT name FROM campaigns ORDER BY name")["name"].tolist()
    rows = []
    for n in names:
        stt = campaign_status(st.store, n)
        stt["chart"] = charts.bars(["sent", "holdout", "suppressed", "failed", "opened", "clicked", "converted"],
                                   [stt[k] for k in ("sent", "holdout", "suppressed", "failed", "opened", "clicked", "converted")])
        rows.append(stt)
    return _page(request, "campaigns.html", user=u, rows=rows)


@router.get("/campaigns/{name}/preview", response_class=HTMLResponse)
def campaign_preview(request: Request, name: str, customer: str, u: dict = Depends(user), st: AppState = Depends(state)) -> Response:
    from persona.campaigns.preview import preview
    from persona.campaigns.spec import CampaignSpec
    from persona.store.models import Campaign

    with st.store.session() as s:
        row = s.get(Campaign, name)
    if row is None:
        return HTMLResponse(f"<p>No campaign {name!r}</p>", status_code=404)
    try:
        m = preview(st.store, st.settings, CampaignSpec.model_validate(row.spec), customer, recommender=st.recs.model)
    except PersonaError as exc:
        return HTMLResponse(f"<p>{exc}</p>", status_code=exc.http_status)
    return HTMLResponse(m.html)


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    names = st.store.read_frame("SELECT name FROM experiments ORDER BY name")["name"].tolist()
    results = []
    for n in names:
        item: dict[str, Any] = {"name": n}
        try:
            from persona.experiments.analysis import analyze_experiment

            res = analyze_experiment(st.store, n)
            cmp = res.comparisons
            item["verdicts"] = res.verdicts
            item["arms"] = res.arms.to_dict(orient="records")
            rates = cmp[cmp["kind"] == "rate"] if "kind" in cmp else cmp
            if len(rates) and {"difference", "ci_low", "ci_high"} <= set(rates.columns):
                labels = [f"{v} vs {c} · {m}" for v, c, m in zip(rates["variant"], rates["control"], rates["metric"], strict=True)]
                item["chart"] = charts.intervals(labels, rates["difference"].tolist(), rates["ci_low"].tolist(), rates["ci_high"].tolist())
        except Exception as exc:  # noqa: BLE001 - one experiment's problem must not hide the others
            item["error"] = str(exc)
        results.append(item)
    return _page(request, "experiments.html", user=u, results=results)


@router.get("/fairness", response_class=HTMLResponse)
def fairness(request: Request, by: str | None = None, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    from persona.fairness.workspace import audit_workspace

    try:
        report = audit_workspace(st.store, [a.strip() for a in by.split(",") if a.strip()] if by else None,
                                 recommender=st.recs.current(), seed=st.settings.seed)
    except PersonaError as exc:  # e.g. customers without gender, age or country
        return _page(request, "fairness.html", user=u, error=str(exc))
    parts = []
    for part, items in report.parts.items():
        shown = []
        for it in items:
            judged = [g for g in it.get("groups", []) if g.get("judged") and isinstance(g.get("value", g.get("auc")), int | float)]
            key = "value" if it.get("kind") else "auc"
            chart = charts.bars([f"{g['group']} ({g['n']})" for g in judged], [float(g[key]) for g in judged]) if judged else ""
            where = " ".join(str(it[k]) for k in ("model", "campaign") if it.get(k))
            shown.append({**it, "where": f"{where}: " if where else "", "chart": chart})
        parts.append((part, shown))
    return _page(request, "fairness.html", user=u, report=report, parts=parts)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    if u["scope"] != "admin":  # where personal data sits is for administrators, as GET /v1/privacy/report
        return _page(request, "privacy.html", user=u, error="The privacy report needs an admin key: sign in with one.")
    from persona.privacy.report import privacy_report

    return _page(request, "privacy.html", user=u, rep=privacy_report(st.store, st.settings))


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, job: str | None = None, u: dict = Depends(user), st: AppState = Depends(state)) -> HTMLResponse:
    found = None
    if job is not None:
        try:
            found = st.jobs.get(st, job)
        except PersonaError:  # an unknown (or long removed) job: nothing to show
            found = None
    return _sources_page(request, u, st, job=found)


@router.post("/sources/sync", response_class=HTMLResponse)
def sources_sync(request: Request, csrf: str = Form(""), name: str = Form(""), u: dict = Depends(user),
                 st: AppState = Depends(state)) -> Response:
    if u["scope"] != "admin" or not st.keys.signer().check(csrf, "csrf", u["prefix"], u["exp"]):
        return _sources_page(request, u, st, error="This action needs an admin key and a page loaded in this session: "
                             "reload the page and try again.", status=403)
    try:  # in the background: a long pull must not hold the page (or outlive a proxy's timeout)
        job = st.jobs.start(st, [name] if name else None, full=False, actor=f"ui:{u['prefix']}")
    except PersonaError as exc:  # another sync running (409), an unknown source, an invalid config.toml
        return _sources_page(request, u, st, error=str(exc), status=exc.http_status)
    return RedirectResponse("/ui/sources?" + urlencode({"job": job.id}), status_code=303)


def _sources_page(request: Request, u: dict[str, Any], st: AppState, *, job: Any = None, error: str | None = None,
                  status: int = 200) -> HTMLResponse:
    """The Sources page (admin keys: a source names internal hosts), with an action's error when there is one."""
    if u["scope"] != "admin":
        resp = _page(request, "sources.html", user=u, denied=True)
        resp.status_code = status
        return resp
    from persona.ingest.sources.configured import load_sources
    from persona.ingest.sources.status import sources_status

    try:
        rep = sources_status(st.store, load_sources(st.settings))
    except PersonaError as exc:  # config.toml cannot be parsed
        rep, error = None, error or str(exc)
    # the job shown, when it still runs, keeps the page refreshing (it may finish between the two reads)
    running = job if job is not None and job.status == "running" else st.jobs.running(st)
    resp = _page(request, "sources.html", user=u, rep=rep, error=error, job=job, running=running,
                 jobs=st.jobs.recent(st, RECENT_JOBS), csrf=csrf_token(st, u))
    resp.status_code = status
    return resp


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard routes and the redirect to the login page."""
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def to_login(_: Request, __: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)
