"""Uplift on Hillstrom: Persona's learners vs scikit-uplift (and causalml when installed), same split, same run.

Treatment = any e-mail vs no e-mail; outcomes visit and conversion; a fixed 70/30 split stratified by
treatment × outcome (seed 42). Every library gets the same base learners (regularised LightGBM and
an L2 logistic regression); metrics are scikit-uplift's definitions (Qini coefficient, AUUC, uplift@30%).

    python bench/bench_uplift.py [--data PATH] [--json] [--outcomes visit conversion]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from persona.experiments.hillstrom import hillstrom_uplift_inputs, read_hillstrom
from persona.experiments.uplift import (
    ClassTransformation,
    DRLearner,
    SLearner,
    TLearner,
    UpliftEnsemble,
    XLearner,
    compare_policies,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom" / "hillstrom.csv"
SEED = 42
LGBM = dict(n_estimators=150, learning_rate=0.03, num_leaves=7, min_child_samples=500, subsample=0.8, subsample_freq=1,
            colsample_bytree=0.8, reg_lambda=10.0, verbose=-1, n_jobs=1, random_state=SEED)


def clf() -> LGBMClassifier:
    return LGBMClassifier(**LGBM)


def reg() -> LGBMRegressor:
    return LGBMRegressor(**LGBM)


def logit() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.1))


def ridge() -> object:
    return make_pipeline(StandardScaler(), Ridge(alpha=10.0))


def persona_learners() -> dict[str, object]:
    out: dict[str, object] = {}
    for tag, make, make_r in (("LGBM", clf, reg), ("logit", logit, ridge)):
        out[f"S-learner ({tag})"] = SLearner(make())
        out[f"S-learner interactions ({tag})"] = SLearner(make(), interactions=True)
        out[f"T-learner ({tag})"] = TLearner(make())
        out[f"T-learner ddr_control ({tag})"] = TLearner(make(), method="ddr_control")
        out[f"X-learner ({tag})"] = XLearner(make(), make_r())
        out[f"DR-learner, cross-fitted ({tag})"] = DRLearner(make(), make_r(), seed=SEED)
        out[f"class transformation, balanced ({tag})"] = ClassTransformation(make())
    out["ensemble S+T+X (LGBM) + T+X (logit)"] = UpliftEnsemble(
        [SLearner(clf()), TLearner(clf()), XLearner(clf(), reg()), TLearner(logit()), XLearner(logit(), ridge())])
    return out


def sklift_learners() -> dict[str, object]:
    from sklift.models import ClassTransformation as SkCT
    from sklift.models import SoloModel, TwoModels

    out = {}
    for tag, make in (("LGBM", clf), ("logit", logit)):
        out[f"SoloModel dummy ({tag})"] = SoloModel(make())
        out[f"SoloModel treatment_interaction ({tag})"] = SoloModel(make(), method="treatment_interaction")
        out[f"TwoModels vanilla ({tag})"] = TwoModels(make(), make())
        out[f"TwoModels ddr_control ({tag})"] = TwoModels(make(), make(), method="ddr_control")
        out[f"ClassTransformation ({tag})"] = SkCT(make())
    return out


def causalml_learners() -> dict[str, object] | str:
    try:
        from causalml.inference.meta import BaseSClassifier, BaseTClassifier, BaseXClassifier
    except Exception as exc:  # noqa: BLE001 - optional peer
        return f"causalml not importable: {type(exc).__name__}: {exc}"
    out = {}
    for tag, make, make_r in (("LGBM", clf, reg), ("logit", logit, ridge)):
        out[f"BaseSClassifier ({tag})"] = BaseSClassifier(learner=make())
        out[f"BaseTClassifier ({tag})"] = BaseTClassifier(learner=make())
        out[f"BaseXClassifier ({tag})"] = BaseXClassifier(outcome_learner=make(), effect_learner=make_r())
    return out


def _score(y: np.ndarray, u: np.ndarray, t: np.ndarray) -> dict[str, float]:
    return {"qini": qini_auc_score(y, u, t), "auuc": uplift_auc_score(y, u, t),
            "uplift_at_30": uplift_at_k(y, u, t, "overall", 0.3)}


def _paired_bootstrap(y: np.ndarray, t: np.ndarray, u_a: np.ndarray, u_b: np.ndarray, n_boot: int = 200) -> dict:
    """Qini(A) - Qini(B) with a paired bootstrap 95 % interval over test customers: is the gap noise?"""
    rng = np.random.default_rng(SEED)
    d = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        d.append(qini_auc_score(y[i], u_a[i], t[i]) - qini_auc_score(y[i], u_b[i], t[i]))
    lo, hi = np.quantile(d, [0.025, 0.975])
    return {"difference": qini_auc_score(y, u_a, t) - qini_auc_score(y, u_b, t), "ci_low": float(lo), "ci_high": float(hi)}


def run(data: Path, outcomes: list[str]) -> dict:
    df = read_hillstrom(data)
    X, t = hillstrom_uplift_inputs(df)
    results: dict = {"split": {"test_size": 0.3, "seed": SEED, "stratify": "treatment x outcome"}, "outcomes": {}}
    for outcome in outcomes:
        y = df[outcome].to_numpy()
        Xtr, Xte, ttr, tte, ytr, yte = train_test_split(X, t, y, test_size=0.3, random_state=SEED, stratify=t * 2 + y)
        rows = []
        preds: dict = {}
        best_persona = None
        for name, m in persona_learners().items():
            t0 = time.perf_counter()
            u = m.fit(Xtr, ttr, ytr).predict_uplift(Xte)
            row = {"library": "persona", "learner": name, **_score(yte, u, tte), "seconds": time.perf_counter() - t0}
            rows.append(row)
            preds[("persona", name)] = u
            if best_persona is None or row["qini"] > best_persona[0]["qini"]:
                best_persona = (row, u)
        for name, m in sklift_learners().items():
            t0 = time.perf_counter()
            u = m.fit(Xtr, ytr, ttr).predict(Xte)
            rows.append({"library": "scikit-uplift", "learner": name, **_score(yte, u, tte), "seconds": time.perf_counter() - t0})
            preds[("scikit-uplift", name)] = u
        peers = causalml_learners()
        if isinstance(peers, str):
            results.setdefault("notes", []).append(peers)
        else:
            for name, m in peers.items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if "X" in name:  # the same constant propensity Persona's X-learner uses (randomised data)
                        m.fit(Xtr.to_numpy(), ttr, ytr, p=np.full(len(ttr), ttr.mean()))
                    else:
                        m.fit(Xtr.to_numpy(), ttr, ytr)
                    u = (np.asarray(m.predict(Xte.to_numpy(), p=np.full(len(tte), ttr.mean()))) if "X" in name
                         else np.asarray(m.predict(Xte.to_numpy()))).reshape(-1)
                rows.append({"library": "causalml", "learner": name, **_score(yte, u, tte), "seconds": time.perf_counter() - t0})
                preds[("causalml", name)] = u
        # policy: contact the top 30 % by uplift vs everyone vs top 30 % by a response model
        resp = clf().fit(Xtr[ttr == 1], ytr[ttr == 1]).predict_proba(Xte)[:, 1]
        pol = compare_policies(best_persona[1], yte, tte, propensity=resp, revenue=df.loc[Xte.index, "spend"].to_numpy(),
                               share=0.3)
        best = {lib: max((r for r in rows if r["library"] == lib), key=lambda r: r["qini"]) for lib in {r["library"] for r in rows}}
        u_best = preds[("persona", best["persona"]["learner"])]
        # the best peer learner that is a different algorithm (identical predictions make the gap trivially 0)
        others = [r for r in rows if r["library"] != "persona"
                  and not np.allclose(preds[(r["library"], r["learner"])], u_best, rtol=1e-6, atol=1e-9)]
        peer = max(others, key=lambda r: r["qini"])
        diff = _paired_bootstrap(yte, tte, u_best, preds[(peer["library"], peer["learner"])])
        diff["peer"] = f"{peer['library']}: {peer['learner']}"
        curves = {}
        for lib, b in best.items():
            curves[f"{lib}: {b['learner']}"] = qini_curve(yte, preds[(lib, b["learner"])], tte)
        results.setdefault("_curves", {})[outcome] = curves
        results["outcomes"][outcome] = {"rows": rows, "best": best, "policy": pol.to_dict(orient="records"),
                                        "qini_diff_vs_best_peer": diff,
                                        "persona_best_at_least_peers": all(
                                            best["persona"]["qini"] >= b["qini"] for k, b in best.items() if k != "persona")}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--outcomes", nargs="+", default=["visit", "conversion"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--html", type=Path, help="also write the Qini curves of each library's best learner to this page")
    a = ap.parse_args()
    if not a.data.is_file():
        sys.exit(f"Hillstrom data not found at {a.data}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(a.data, a.outcomes)
    curves = res.pop("_curves", {})
    if a.html:
        from persona.experiments.report import plot_qini, write_html
        from persona.pipeline.stage import Section

        sections = []
        for outcome, c in curves.items():
            sec = Section(title=f"Hillstrom uplift: Qini curves, outcome = {outcome}")
            sec.add_figure(plot_qini(c, title=f"Qini curves on the 30 % test split ({outcome})"))
            sections.append(sec)
        write_html(sections, a.html, title="uplift")
    if a.json:
        print(json.dumps(res, indent=2, default=float))
        return
    for outcome, r in res["outcomes"].items():
        print(f"\n== Hillstrom uplift, outcome = {outcome} (test 30 %, seed {SEED}) ==")
        print(f"{'library':<14} {'learner':<44} {'Qini':>8} {'AUUC':>8} {'upl@30%':>8} {'sec':>6}")
        for row in sorted(r["rows"], key=lambda x: -x["qini"]):
            print(f"{row['library']:<14} {row['learner']:<44} {row['qini']:8.4f} {row['auuc']:8.4f} "
                  f"{row['uplift_at_30']:8.4f} {row['seconds']:6.1f}")
        print("best per library: " + ", ".join(f"{k} {v['qini']:.4f} ({v['learner']})" for k, v in sorted(r["best"].items())))
        print(f"Persona's best >= every peer's best: {r['persona_best_at_least_peers']}")
        d = r["qini_diff_vs_best_peer"]
        print(f"noise level: Qini(Persona best) - Qini({d['peer']}, the best different peer algorithm) = "
              f"{d['difference']:+.4f} (paired bootstrap 95% CI {d['ci_low']:+.4f} to {d['ci_high']:+.4f})")
        print("targeting 30 % (best Persona learner) vs everyone vs response model, on the test split:")
        for p in r["policy"]:
            print(f"  {p['policy']:<28} contacted {p['contacted']:>6}  incremental {outcome} {p['incremental_conversions']:8.1f}"
                  f" ± {p['incremental_conversions_se']:.1f}  incremental spend {p['incremental_revenue']:9.1f} ± {p['incremental_revenue_se']:.1f}")
    for n in res.get("notes", []):
        print("note:", n)


if __name__ == "__main__":
    main()
