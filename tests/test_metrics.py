"""NME / FR / AUC / CED against hand computations and an independent loop implementation."""

from __future__ import annotations

import numpy as np
import pytest

from facekd.engine.metrics import auc, ced, failure_rate, nme, normalizer
from facekd.errors import FacekdError
from facekd.schemes import get_scheme

IBUG = get_scheme("ibug68")


def _face(rng, k=68):
    """A random face with well separated eye corners."""
    p = rng.uniform(0, 100, size=(k, 2))
    p[36] = (30.0, 40.0)
    p[45] = (70.0, 40.0)
    return p


def test_one_point_off_by_ten_percent_of_the_interocular_distance():
    rng = np.random.default_rng(0)
    gt = _face(rng)
    pred = gt.copy()
    pred[10] += (0.0, 0.10 * 40.0)  # iod = 40
    assert nme(pred[None], gt[None], IBUG)[0] == pytest.approx(0.10 / 68)
    # same for a diagonal offset and the WFLW scheme (corners 60 / 72)
    w = get_scheme("wflw98")
    g = rng.uniform(0, 100, size=(98, 2))
    g[60], g[72] = (10.0, 10.0), (40.0, 50.0)  # iod = 50
    p = g.copy()
    p[5] += (3.0, 4.0)  # 5 px = 10 %
    assert nme(p, g, w)[0] == pytest.approx(0.10 / 98)


def _nme_loops(pred, gt, scheme, norm, visible=None):
    """Independent plain-python implementation."""
    out = []
    for n in range(len(gt)):
        if norm == "interocular":
            a, b = scheme.eye_corners
            d = ((gt[n, a, 0] - gt[n, b, 0]) ** 2 + (gt[n, a, 1] - gt[n, b, 1]) ** 2) ** 0.5
        elif norm == "interpupil":
            c = []
            for grp in scheme.pupils:
                c.append((sum(gt[n, i, 0] for i in grp) / len(grp), sum(gt[n, i, 1] for i in grp) / len(grp)))
            d = ((c[0][0] - c[1][0]) ** 2 + (c[0][1] - c[1][1]) ** 2) ** 0.5
        else:
            xs, ys = gt[n, :, 0], gt[n, :, 1]
            d = ((max(xs) - min(xs)) * (max(ys) - min(ys))) ** 0.5
        tot, cnt = 0.0, 0
        for k in range(gt.shape[1]):
            if visible is not None and not visible[n, k]:
                continue
            tot += ((pred[n, k, 0] - gt[n, k, 0]) ** 2 + (pred[n, k, 1] - gt[n, k, 1]) ** 2) ** 0.5
            cnt += 1
        out.append(tot / cnt / d)
    return np.array(out)


@pytest.mark.parametrize("norm", ["interocular", "interpupil", "bbox"])
@pytest.mark.parametrize("scheme", ["ibug68", "wflw98", "cofw29"])
def test_nme_matches_an_independent_implementation(norm, scheme):
    s = get_scheme(scheme)
    rng = np.random.default_rng(42)
    gt = rng.uniform(0, 200, size=(7, s.num_points, 2))
    pred = gt + rng.normal(scale=3.0, size=gt.shape)
    np.testing.assert_allclose(nme(pred, gt, s, norm), _nme_loops(pred, gt, s, norm), rtol=1e-10)
    vis = rng.random((7, s.num_points)) > 0.3
    np.testing.assert_allclose(nme(pred, gt, s, norm, visible=vis), _nme_loops(pred, gt, s, norm, vis),
                               rtol=1e-10)


def test_nan_predictions_are_left_out_like_invisible_points():
    rng = np.random.default_rng(1)
    gt = _face(rng)[None]
    pred = gt + 1.0
    pred[0, :30] = np.nan
    vis = np.ones((1, 68), bool)
    vis[0, :30] = False
    np.testing.assert_allclose(nme(pred, gt, IBUG), nme(gt + 1.0, gt, IBUG, visible=vis))


def test_nme_refuses_to_produce_a_silent_number():
    gt = np.zeros((1, 68, 2))
    with pytest.raises(FacekdError, match="interocular distance is zero"):
        nme(gt, gt, IBUG)
    rng = np.random.default_rng(2)
    g = _face(rng)[None]
    with pytest.raises(FacekdError, match="no scorable point"):
        nme(g, g, IBUG, visible=np.zeros((1, 68), bool))
    with pytest.raises(FacekdError, match="scheme 'ibug68' has 68"):
        nme(g[:, :60], g[:, :60], IBUG)
    with pytest.raises(FacekdError, match="unknown NME normalisation"):
        normalizer(g, IBUG, "eyes")


def test_failure_rate_and_auc_by_hand():
    e = np.array([0.02, 0.05, 0.12, 0.10])
    assert failure_rate(e, 0.10) == pytest.approx(1 / 4)  # strictly greater than the threshold
    assert failure_rate(e, 0.08) == pytest.approx(2 / 4)
    # integral of the CED step function over [0, 0.1]: (0.08 + 0.05 + 0 + 0) / 4, divided by 0.1
    assert auc(e, 0.10) == pytest.approx(0.325)
    assert auc(np.zeros(3), 0.1) == pytest.approx(1.0)
    assert auc(np.full(3, 0.5), 0.1) == 0.0


def test_auc_matches_a_fine_numerical_integration():
    rng = np.random.default_rng(3)
    e = rng.gamma(2.0, 0.025, size=500)
    xs = np.linspace(0, 0.1, 1_000_001)
    ys = np.array([(e <= x).mean() for x in xs[::1000]])  # coarse check of the CED itself
    _, ced_ys = ced(e, 0.1, bins=1001)
    np.testing.assert_allclose(ced_ys, ys)
    fine = np.searchsorted(np.sort(e), xs, side="right") / e.size
    numeric = np.trapezoid(fine, xs) / 0.1
    assert auc(e, 0.1) == pytest.approx(numeric, abs=1e-5)


def test_ced_shape_and_errors():
    xs, ys = ced(np.array([0.0, 0.05, 0.2]), 0.1, bins=11)
    assert xs.tolist() == pytest.approx(np.linspace(0, 0.1, 11).tolist())
    assert ys[0] == pytest.approx(1 / 3) and ys[5] == pytest.approx(2 / 3) and ys[-1] == pytest.approx(2 / 3)
    with pytest.raises(FacekdError, match="no NME values"):
        auc(np.array([]))
    with pytest.raises(FacekdError, match="finite"):
        failure_rate(np.array([np.nan]))
