"""Hillstrom A/B table (per arm visit, conversion, spend with intervals and tests), checked against direct
pandas / statsmodels / scipy computation in the same run, plus the simulation figures (coverage, peeking).

    python bench/bench_experiments.py [--data PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from persona.experiments.analysis import analyze
from persona.experiments.hillstrom import CONTROL, read_hillstrom
from persona.experiments.inference import two_proportion_ztest, welch_ttest
from persona.experiments.sequential import simulate_aa_false_positive_rate

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom" / "hillstrom.csv"


def _coverage(reps: int = 1000, seed: int = 2026) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.binomial(3000, 0.08, reps), rng.binomial(3000, 0.10, reps)
    r = two_proportion_ztest(x_t, 3000, x_c, 3000)
    rate = float(np.mean((r.ci_low <= 0.02) & (0.02 <= r.ci_high)))
    n, true = 2000, 0.02 * np.exp(3 + 0.32)
    rc = (rng.random((reps, n)) < 0.10) * rng.lognormal(3, 0.8, (reps, n))
    rt = (rng.random((reps, n)) < 0.12) * rng.lognormal(3, 0.8, (reps, n))
    w = welch_ttest(rt.mean(1), rt.var(1, ddof=1), n, rc.mean(1), rc.var(1, ddof=1), n)
    return {"rate_newcombe_coverage": rate, "revenue_welch_coverage": float(np.mean((w.ci_low <= true) & (true <= w.ci_high)))}


def run(path: Path) -> dict:
    df = read_hillstrom(path)
    t0 = time.perf_counter()
    res = analyze(df, "segment", ["visit", "conversion"], control=CONTROL, revenue="spend", n_boot=2000, seed=0)
    seconds = time.perf_counter() - t0
    # direct computation, independent of Persona
    g = df.groupby("segment")
    direct = g[["visit", "conversion", "spend"]].mean()
    checks = []
    arms = res.arms.set_index(["metric", "variant"])
    for m in ("visit", "conversion", "spend"):
        for seg in direct.index:
            checks.append(arms.loc[(m, seg), "value"] == direct.loc[seg, m])
    ctrl = df[df.segment == CONTROL]
    for r in res.comparisons.itertuples():
        arm = df[df.segment == r.variant]
        if r.kind == "rate":
            z, p = proportions_ztest([arm[r.metric].sum(), ctrl[r.metric].sum()], [len(arm), len(ctrl)])
            lo, hi = confint_proportions_2indep(arm[r.metric].sum(), len(arm), ctrl[r.metric].sum(), len(ctrl), method="newcomb")
        else:
            t = stats.ttest_ind(arm[r.metric], ctrl[r.metric], equal_var=False)
            p, (lo, hi) = t.pvalue, tuple(t.confidence_interval())
        checks.append(np.isclose(r.p_value, p, rtol=1e-9, atol=0) and np.allclose([r.ci_low, r.ci_high], [lo, hi], rtol=1e-9))
    return {"analysis": res.to_dict(), "seconds": seconds, "matches_direct_computation": bool(all(checks)),
            "checks": len(checks), "coverage_1000": _coverage(),
            "aa_peeking_500x20": simulate_aa_false_positive_rate(500, 20, 200, 0.1, 0.05, seed=11)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not a.data.is_file():
        sys.exit(f"Hillstrom data not found at {a.data}")
    out = run(a.data)
    if a.json:
        print(json.dumps(out, indent=2, default=float))
        return
    an = out["analysis"]
    arms = pd.DataFrame(an["arms"])
    print("== Hillstrom (64,000 customers): per arm, Wilson 95% CI for rates, t CI for spend ==")
    print(f"{'arm':<14} {'n':>6} {'visit':>24} {'conversion':>24} {'spend / customer':>26}")
    for v in sorted(arms.variant.unique()):
        a_ = arms[arms.variant == v].set_index("metric")
        cells = [f"{a_.loc[m, 'value']:.4%} [{a_.loc[m, 'ci_low']:.2%}, {a_.loc[m, 'ci_high']:.2%}]" for m in ("visit", "conversion")]
        s = a_.loc["spend"]
        print(f"{v:<14} {int(s.n):>6} {cells[0]:>24} {cells[1]:>24} {s.value:>9.4f} [{s.ci_low:.3f}, {s.ci_high:.3f}]")
    print("\n== against No E-Mail (Newcombe CI + pooled z-test for rates; Welch + bootstrap CI for spend; Holm) ==")
    print(f"{'metric':<11} {'variant':<14} {'diff':>10} {'95% CI':>24} {'bootstrap CI':>22} {'p':>10} {'p Holm':>10}")
    for r in an["comparisons"]:
        pp = r["kind"] == "rate"
        f = (lambda x: f"{x * 100:+.3f}pp") if pp else (lambda x: f"{x:+.4f}")
        boot = f"[{f(r['bootstrap_ci_low'])}, {f(r['bootstrap_ci_high'])}]" if "bootstrap_ci_low" in r and r.get("bootstrap_ci_low") is not None and not pp else ""
        print(f"{r['metric']:<11} {r['variant']:<14} {f(r['difference']):>10} {'[' + f(r['ci_low']) + ', ' + f(r['ci_high']) + ']':>24} "
              f"{boot:>22} {r['p_value']:>10.3g} {r['p_adjusted']:>10.3g}")
    print("\n" + "\n".join("• " + v for v in an["verdicts"]))
    print(f"\nSRM check p = {an['srm']['p_value']:.3f}; analysis took {out['seconds']:.2f} s (incl. 2×2,000 bootstrap)")
    print(f"matches direct pandas/statsmodels/scipy computation ({out['checks']} checks): {out['matches_direct_computation']}")
    c = out["coverage_1000"]
    print(f"\ncoverage of 95% intervals over 1,000 simulated experiments: rate (Newcombe) {c['rate_newcombe_coverage']:.1%}, "
          f"skewed revenue (Welch) {c['revenue_welch_coverage']:.1%}")
    s = out["aa_peeking_500x20"]
    print(f"A/A, 500 experiments × 20 looks: always-valid mSPRT false positives {s['sequential_fpr']:.1%}; "
          f"naive z-test at every look {s['naive_peeking_fpr']:.1%}; z-test once at the end {s['fixed_horizon_fpr']:.1%}")


if __name__ == "__main__":
    main()
