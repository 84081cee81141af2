"""Listwise blend weights: the loss, its gradient, and what the fitted weights favour."""

from __future__ import annotations

import numpy as np
import pytest

from persona.recommend.blend import fit_listwise, fit_listwise_mix, listwise_loss, listwise_rows


def _rows(seed: int = 0, n: int = 300, width: int = 40):
    """Member 0 ranks the held-out items high, member 1 is noise, member 2 is member 0 plus heavy noise."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, width)) < 0.1).astype(np.float32)
    good = labels * 1.5 + rng.normal(size=(n, width))
    noise = rng.normal(size=(n, width))
    weak = labels * 1.5 + rng.normal(scale=3.0, size=(n, width))
    valid = np.ones((n, width), dtype=bool)
    valid[:, -5:] = False  # padding: never a candidate
    labels[:, -5:] = 1.0  # labels on invalid cells must be ignored
    return [good, noise, weak], labels, valid


def test_loss_gradient_matches_finite_differences():
    feats, labels, valid = _rows()
    rows = listwise_rows(feats, labels, valid)
    w = np.array([0.7, 0.2, 0.4])
    loss, grad = listwise_loss(rows, w)
    eps = 1e-3
    num = [(listwise_loss(rows, w + eps * e)[0] - listwise_loss(rows, w - eps * e)[0]) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(grad, num, rtol=2e-2, atol=1e-4)
    assert np.isfinite(loss) and loss > 0


def test_rows_without_a_valid_held_out_item_are_dropped_and_padding_is_ignored():
    feats, labels, valid = _rows(n=50)
    labels[:10, :-5] = 0.0  # these rows only have labels on padding
    rows = listwise_rows(feats, labels, valid)
    assert len(rows.X) == int(((labels * valid).sum(axis=1) > 0).sum()) <= 40
    np.testing.assert_allclose(rows.target.sum(axis=1), 1.0, rtol=1e-5)
    assert rows.X.shape[1] == 35  # the padding columns no row needs are cut
    assert (rows.target[np.isneginf(rows.bias)] == 0).all()


def test_compacted_rows_give_the_loss_of_the_padded_ones():
    feats, labels, valid = _rows(n=60)
    rng = np.random.default_rng(3)
    valid[:, :30] &= rng.random((60, 30)) < 0.6  # ragged rows: each keeps its own valid candidates
    rows = listwise_rows(feats, labels, valid)
    assert rows.X.shape[1] == int(valid.sum(axis=1).max())
    w = np.array([0.7, 0.2, 0.4])
    lab = labels * valid
    keep = lab.sum(axis=1) > 0
    s = sum(wi * f for wi, f in zip(w, feats, strict=True))[keep]
    s = np.where(valid[keep], s, -np.inf)
    logp = s - s.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    target = lab[keep] / lab[keep].sum(axis=1, keepdims=True)
    expected = -(target * np.where(valid[keep], logp, 0.0)).sum() / keep.sum() + 1e-3 * float(w @ w)
    assert listwise_loss(rows, w)[0] == pytest.approx(expected, rel=1e-5)


def test_fitted_weights_favour_the_informative_member_and_respect_frozen_ones():
    feats, labels, valid = _rows()
    rows = listwise_rows(feats, labels, valid)
    w = fit_listwise(rows, np.array([True, True, True]))
    assert (w >= 0).all() and w[0] > 5 * w[1] and w[0] > w[2]
    assert listwise_loss(rows, w)[0] < listwise_loss(rows, np.array([0.1, 0.1, 0.1]))[0]
    frozen = fit_listwise(rows, np.array([False, True, True]))
    assert frozen[0] == 0.0 and frozen[2] > frozen[1]


def test_mix_moves_from_the_guard_optimum_towards_the_target_as_the_guard_weight_falls():
    feats, labels, valid = _rows(seed=1)
    guard = listwise_rows(feats, labels, valid)
    # on the target rows the roles of members 0 and 2 are swapped
    target = listwise_rows([feats[2], feats[1], feats[0]], labels, valid)
    start = fit_listwise(guard, np.array([True, True, True]))
    strong = fit_listwise_mix(target, guard, 1000.0, start)
    weak = fit_listwise_mix(target, guard, 0.01, start)
    assert np.abs(strong - start).max() < 0.1 * np.abs(start).max()
    assert listwise_loss(target, weak)[0] < listwise_loss(target, strong)[0]
    assert listwise_loss(guard, weak)[0] > listwise_loss(guard, strong)[0] - 1e-9
    assert weak[2] > weak[0]


def test_no_rows_have_zero_loss():
    rows = listwise_rows([np.zeros((0, 4))], np.zeros((0, 4)), np.ones((0, 4), dtype=bool))
    assert listwise_loss(rows, np.array([1.0])) == (0.0, pytest.approx(np.zeros(1)))
