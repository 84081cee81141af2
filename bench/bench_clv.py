"""CLV models on the CDNOW sample (39-week calibration from 1997-01-01, 39-week holdout): Persona vs lifetimes.

Both fit in the same run on the same (frequency, recency, T, monetary) summary. Printed: parameters,
log-likelihood, fit time, and holdout RMSE / total of per-customer repeat transactions.

    python bench/bench_clv.py [--json] [--no-hybrid]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"


def _timed(fn):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-hybrid", action="store_true")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"CDNOW sample not found at {DATA}")
    warnings.filterwarnings("ignore")
    from persona.ingest.adapters.cdnow import read_cdnow_transactions
    from persona.predict.clv import BetaGeoModel, ParetoNBDModel
    from persona.predict.clv_burst import BurstBetaGeoModel, repeat_purchase_ages
    from persona.predict.clv_gamma_gamma import GammaGammaModel
    from persona.predict.clv_hybrid import HybridTransactionModel
    from persona.predict.clv_select import SelectedTransactionModel
    from persona.predict.clv_summary import rfm_summary

    tx = read_cdnow_transactions(DATA)
    s = rfm_summary(tx, "1997-09-30", observation_end="1998-06-30")
    x, r, T, m, y = s["frequency"], s["recency"], s["T"], s["monetary_value"], s["frequency_holdout"].to_numpy()
    rows = []

    def score(pred):  # noqa: ANN001, ANN202
        return {"holdout_rmse": float(np.sqrt(np.mean((pred - y) ** 2))), "holdout_total": float(pred.sum())}

    bg, t = _timed(lambda: BetaGeoModel().fit(x, r, T))
    rows.append({"model": "BG/NBD", "library": "persona", "params": bg.params_, "log_likelihood": bg.log_likelihood_, "fit_s": t,
                 **score(bg.conditional_expected_purchases(39, x, r, T))})
    pn, t = _timed(lambda: ParetoNBDModel().fit(x, r, T))
    rows.append({"model": "Pareto/NBD", "library": "persona", "params": pn.params_, "log_likelihood": pn.log_likelihood_, "fit_s": t,
                 **score(pn.conditional_expected_purchases(39, x, r, T))})
    bb, t = _timed(lambda: BurstBetaGeoModel().fit(x, r, T, repeat_purchase_ages(tx, "1997-09-30")))
    rows.append({"model": "BG/NBD burst", "library": "persona", "params": bb.params_, "log_likelihood": bb.log_likelihood_,
                 "fit_s": t, **score(bb.conditional_expected_purchases(39, x, r, T))})
    gg, t = _timed(lambda: GammaGammaModel().fit(x, m))
    rows.append({"model": "Gamma-Gamma", "library": "persona", "params": gg.params_, "log_likelihood": gg.log_likelihood_, "fit_s": t})
    if not args.no_hybrid:
        hy, t = _timed(lambda: HybridTransactionModel().fit(tx[tx["date"] <= "1997-09-30"], "1997-09-30"))
        # fixed default settings, which were chosen with the holdout in view: a regression guard, not a fair score
        rows.append({"model": "hybrid (fixed)", "library": "persona", "params": {}, "log_likelihood": None, "fit_s": t,
                     **score(hy.predict(39).reindex(s.index).to_numpy())})
        # the fair one: model and settings chosen by backtests inside the calibration period only
        se, t = _timed(lambda: SelectedTransactionModel().fit(tx[tx["date"] <= "1997-09-30"], "1997-09-30"))
        rows.append({"model": f"selected: {se.chosen_}", "library": "persona", "params": {}, "log_likelihood": None, "fit_s": t,
                     **score(se.predict(39).reindex(s.index).to_numpy())})
    try:
        import lifetimes
    except ImportError:
        lifetimes = None
    if lifetimes is not None:
        # lifetimes' own objective is rescaled; its parameters are scored with the same exact likelihood as Persona's
        def ll_at(cls, params, *data):  # noqa: ANN001, ANN202
            mdl = cls()
            mdl.params_ = dict(zip(cls.param_names, params, strict=True))
            return mdl.log_likelihood(*data)

        lbg, t = _timed(lambda: lifetimes.BetaGeoFitter().fit(x, r, T))
        pb = lbg.params_
        rows.append({"model": "BG/NBD", "library": "lifetimes", "params": pb.to_dict(),
                     "log_likelihood": ll_at(BetaGeoModel, [pb["r"], pb["alpha"], pb["a"], pb["b"]], x, r, T), "fit_s": t,
                     **score(np.asarray(lbg.conditional_expected_number_of_purchases_up_to_time(39, x, r, T)))})
        lpn, t = _timed(lambda: lifetimes.ParetoNBDFitter().fit(x, r, T))
        pp = lpn.params_
        rows.append({"model": "Pareto/NBD", "library": "lifetimes", "params": pp.to_dict(),
                     "log_likelihood": ll_at(ParetoNBDModel, [pp["r"], pp["alpha"], pp["s"], pp["beta"]], x, r, T), "fit_s": t,
                     **score(np.asarray(lpn.conditional_expected_number_of_purchases_up_to_time(39, x, r, T)))})
        rep = s[s["frequency"] > 0]
        lgg, t = _timed(lambda: lifetimes.GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]))
        pg = lgg.params_
        rows.append({"model": "Gamma-Gamma", "library": "lifetimes", "params": pg.to_dict(),
                     "log_likelihood": ll_at(GammaGammaModel, [pg["p"], pg["q"], pg["v"]], rep["frequency"], rep["monetary_value"]), "fit_s": t})
    rows.append({"model": "(published) BG/NBD", "library": "Fader, Hardie & Lee 2005", "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                 "log_likelihood": -9582.4, "fit_s": None, "holdout_rmse": 1.608, "holdout_total": 1653})
    if args.json:
        print(json.dumps(rows, indent=2, default=float))
        return
    print(f"{'model':<20} {'library':<26} {'params':<52} {'log-lik':>10} {'fit s':>7} {'RMSE':>7} {'total':>7}   (actual holdout total {y.sum():,.0f})")
    for row in rows:
        params = ", ".join(f"{k}={v:.4g}" for k, v in row["params"].items())
        ll = f"{row['log_likelihood']:.1f}" if row["log_likelihood"] is not None else "-"
        fit = f"{row['fit_s']:.2f}" if row["fit_s"] is not None else "-"
        rmse = f"{row['holdout_rmse']:.4f}" if "holdout_rmse" in row else "-"
        tot = f"{row['holdout_total']:.0f}" if "holdout_total" in row else "-"
        print(f"{row['model']:<20} {row['library']:<26} {params:<52} {ll:>10} {fit:>7} {rmse:>7} {tot:>7}")


if __name__ == "__main__":
    main()
