"""Multi-dataset training: several train sources with sampling weights, several val sets reported
each and by their mean (selection uses the mean), and the roll augmentation of wide angles."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from facekd.config import DataSource, TrainConfig, as_sources
from facekd.errors import FacekdError

from test_trainer import _rows, make_pts_dataset, tiny_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    return (make_pts_dataset(root / "a_train", 12, seed=1), make_pts_dataset(root / "b_train", 4, seed=5),
            make_pts_dataset(root / "a_val", 4, seed=2), make_pts_dataset(root / "b_val", 3, seed=6))


def _multi(a, b, av, bv, **over):
    cfg = tiny_config(a, None, **over)
    cfg["data"]["train"] = [{"path": str(a), "weight": 1.0, "name": "a"}, {"path": str(b), "weight": 3.0, "name": "b"}]
    cfg["data"]["val"] = [{"path": str(av), "name": "a"}, {"path": str(bv), "name": "b"}]
    return cfg


def test_single_path_and_list_forms_parse(two_sets):
    a, b, av, bv = two_sets
    one = TrainConfig.from_dict(tiny_config(a, av))
    assert as_sources(one.data.train) == [DataSource(str(a))] and as_sources(one.data.val)[0].path == str(av)
    many = TrainConfig.from_dict(_multi(*two_sets))
    assert [s.label for s in as_sources(many.data.train)] == ["a", "b"]
    assert as_sources(many.data.train)[1].weight == 3.0
    # the dict form round-trips (run folders store config.yaml and reload it on resume)
    assert TrainConfig.from_dict(many.to_dict()) == many
    # unnamed sources are labelled by their last two folders
    assert DataSource("../shared/data/ytf68/val").label == "ytf68/val"


@pytest.mark.parametrize("mutate, match", [
    (lambda c: c["data"]["train"][1].update(weight=0), r"data.train\[1\].weight"),
    (lambda c: c["data"]["train"][0].update(weight=float("inf")), r"data.train\[0\].weight"),
    (lambda c: c["data"]["train"][0].pop("path"), r"data.train\[0\].path"),
    (lambda c: c["data"]["val"][1].update(name="a"), "both named 'a'"),
    (lambda c: c["data"]["train"][0].update(wieght=1), "unknown config key 'data.train\\[0\\].wieght'"),
    (lambda c: c["data"].update(epoch_size=0), "data.epoch_size"),
])
def test_bad_sources_name_the_key(two_sets, mutate, match):
    cfg = _multi(*two_sets)
    mutate(cfg)
    with pytest.raises(FacekdError, match=match):
        TrainConfig.from_dict(cfg)


def test_epoch_counts_follow_the_weights():
    from facekd.engine.trainer import epoch_counts

    assert epoch_counts([12, 4], [1, 3]) == [4, 12]  # 16 faces per epoch, 1:3
    assert epoch_counts([12, 4], [1, 3], epoch_size=10) == [3, 7]  # 2.5 / 7.5: a tie goes to the first
    assert sum(epoch_counts([7, 5, 3], [1, 1, 1], epoch_size=11)) == 11
    assert epoch_counts([100], [1.0]) == [100]


def test_grouped_sampler_draws_the_counts_and_is_resumable():
    from facekd.engine.trainer import ResumableSampler

    s = ResumableSampler(16, 4, seed=7, groups=[(12, 4), (4, 12)])
    assert s.steps_per_epoch == 4
    idx = s.epoch_indices(0)
    per = Counter("a" if i < 12 else "b" for i in idx)
    assert per == {"a": 4, "b": 12}
    assert Counter(i for i in idx if i >= 12) == {12: 3, 13: 3, 14: 3, 15: 3}  # 12 of 4: each 3 times
    assert len({i for i in idx if i < 12}) == 4  # 4 distinct of the 12 in an epoch
    assert idx == ResumableSampler(16, 4, seed=7, groups=[(12, 4), (4, 12)]).epoch_indices(0)
    assert idx != s.epoch_indices(1)
    s.set_epoch(0, skip_steps=2)
    assert list(s) == idx[8:]
    # two processes split the same global batches
    r0 = ResumableSampler(16, 4, 0, 2, seed=7, groups=[(12, 4), (4, 12)]).epoch_indices(0)
    r1 = ResumableSampler(16, 4, 1, 2, seed=7, groups=[(12, 4), (4, 12)]).epoch_indices(0)
    assert sorted(r0 + r1) == sorted(idx)
    with pytest.raises(FacekdError, match="do not partition"):
        ResumableSampler(16, 4, groups=[(10, 4), (4, 4)])


def test_multi_dataset_run_reports_each_val_set_and_selects_on_the_mean(two_sets, tmp_path):
    from facekd.engine.trainer import Trainer, train

    cfg = TrainConfig.from_dict(_multi(*two_sets))
    res = train(cfg, tmp_path / "run")
    assert res.steps == 2 * 4  # 16 faces per epoch (4 + 12), batch 4, 2 epochs
    val = _rows(tmp_path / "run" / "val_log.csv")
    for r in val:
        a, b = float(r["val_a/nme"]), float(r["val_b/nme"])
        assert float(r["val_nme"]) == pytest.approx((a + b) / 2)
        assert int(float(r["val_faces"])) == 7 and int(float(r["val_a/faces"])) == 4
    assert res.best_nme == pytest.approx(min(float(r["val_nme"]) for r in val))
    # the trainer really used both training sets in the ratio of the weights
    t = Trainer(cfg, tmp_path / "inspect")
    idx = t.sampler.epoch_indices(0)
    assert sum(i >= 12 for i in idx) == 12 and sum(i < 12 for i in idx) == 4
    assert sorted(t.val_sets) == ["a", "b"]


def test_wide_rotation_augmentation_draws_large_angles():
    from facekd.data import AugmentConfig
    from facekd.data.augment import sample_geometry

    rng = np.random.default_rng(0)
    cfg = AugmentConfig(rotation=45.0, rotation_p=1.0, rotation_wide=180.0, rotation_wide_p=0.2)
    rots = np.array([sample_geometry(cfg, rng).rotation for _ in range(4000)])
    wide = np.abs(rots) > 45
    assert np.abs(rots).max() <= 180 and 0.12 < wide.mean() < 0.2  # 20 % wide, 3/4 of those beyond 45
    # off by default, and then the random stream is the one it always was
    base = AugmentConfig()
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    g1 = [sample_geometry(base, r1) for _ in range(50)]
    g2 = [sample_geometry(AugmentConfig(rotation_wide=90.0, rotation_wide_p=0.0), r2) for _ in range(50)]
    assert g1 == g2 and max(abs(g.rotation) for g in g1) <= 30
    with pytest.raises(FacekdError, match="rotation_wide_p"):
        AugmentConfig(rotation_wide_p=1.5)
