"""`facekd ablate` and `facekd sweep` end to end on a handful of real faces (a few steps per run)."""

import json
from pathlib import Path

import pytest

from facekd.cli import main

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
REPO = Path(__file__).resolve().parents[1]
DATA = SHARED / "data" / "ytf68"
TEST = SHARED / "data" / "samples" / "300w"  # two 68-point faces: a quick stand-in test split

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared not found")


def _teacher(tmp_path: Path, name: str, model: str) -> Path:
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, create_model, save_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68")
    m = create_model(model, scheme.num_points)
    out = tmp_path / name
    save_model(out, m, card_for(m, scheme=scheme, input_size=64, codec=HeatmapCodec(64, 16, 1.0)))
    return out


def _common(tmp_path, *extra):
    return ["--config", str(REPO / "configs" / "tiny_ci.yaml"), "--test", str(TEST),
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"),
            "--set", f"data.train={DATA / 'train'}", "--set", f"data.val={DATA / 'val'}",
            "--set", "runtime.progress=false", "--set", "runtime.max_steps=2", "--set", "runtime.log_every=1", *extra]


def test_ablate_runs_rows_over_seeds_writes_table_and_reuses_runs(tmp_path, capsys):
    t1, t2 = _teacher(tmp_path, "t1", "hrnet_slim_w8"), _teacher(tmp_path, "t2", "hrnet_slim_w10_d1")
    args = ["ablate", *_common(tmp_path, "--teacher1", str(t1), "--teacher2", str(t2),
                               "--rows", "gt,kd_uniform,full", "--seeds", "0,1")]
    assert main(args) == 0
    md = (tmp_path / "report" / "ablation.md").read_text()
    for label in ("GT only", "+ heatmap KD (uniform)", "full objective"):
        assert f"| {label} | 2 |" in md
    assert "±" in md and (tmp_path / "report" / "ablation.png").stat().st_size > 1000
    runs = json.loads((tmp_path / "report" / "ablation.json").read_text())["runs"]
    # seed-major: every row of seed 0 first, so a stopped ablation already compares all rows
    assert [(r["group"], r["seed"]) for r in runs] == [(g, s) for s in (0, 1) for g in ("gt", "kd_uniform", "full")]
    assert all(r["test"]["faces"] == 2 and 0 < r["test"]["nme"] < 5 for r in runs)
    # the GT-only row trains without teachers; the full row logs every distillation term
    assert "kd" not in (tmp_path / "runs" / "gt" / "seed0" / "train_log.csv").read_text().splitlines()[0]
    assert "a_t1" in (tmp_path / "runs" / "full" / "seed0" / "train_log.csv").read_text().splitlines()[0]
    # seeds give different runs
    gt = [r for r in runs if r["group"] == "gt"]
    assert gt[0]["seed"] == 0 and gt[1]["seed"] == 1 and gt[0]["val"] != gt[1]["val"]
    # a rerun reuses the finished runs (no retraining) and gives the same table
    stamp = (tmp_path / "runs" / "full" / "seed1" / "summary.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "reusing finished run" in capsys.readouterr().out
    assert (tmp_path / "runs" / "full" / "seed1" / "summary.json").stat().st_mtime_ns == stamp
    assert (tmp_path / "report" / "ablation.md").read_text() == md
    # a different config in the same runs folder is refused, not overwritten
    assert main([*args, "--set", "optim.lr=1e-2"]) == 2
    assert "different config" in capsys.readouterr().err


def test_ablate_bad_row_and_missing_teacher(tmp_path, capsys):
    assert main(["ablate", *_common(tmp_path, "--rows", "gt,nonsense")]) == 2
    assert "unknown row" in capsys.readouterr().err
    assert main(["ablate", *_common(tmp_path, "--rows", "kd")]) == 2
    assert "row kd needs teachers" in capsys.readouterr().err
    assert main(["ablate", *_common(tmp_path, "--rows", "kd", "--teacher", f"w32={tmp_path / 'missing'}")]) == 2
    assert "needs teacher w32" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing trained before the check


def test_sweep_trains_family_and_baseline_writes_table_and_pareto(tmp_path):
    extra = _teacher(tmp_path, "other", "hrnet_slim_w10_d1")
    args = ["sweep", *_common(tmp_path, "--widths", "8", "--depths", "1,2", "--baselines", "pfld_regress",
                              "--extra", f"given={extra}", "--latency-runs", "2")]
    assert main(args) == 0
    md = (tmp_path / "report" / "sweep.md").read_text()
    for name in ("hrnet_slim_w8_d1", "hrnet_slim_w8_d2", "pfld_regress", "given"):
        assert f"| {name} |" in md
    runs = {r["group"]: r for r in json.loads((tmp_path / "report" / "sweep.json").read_text())["runs"]}
    assert runs["hrnet_slim_w8_d2"]["extra"]["params"] > runs["hrnet_slim_w8_d1"]["extra"]["params"]
    assert runs["hrnet_slim_w8_d2"]["extra"]["flops"] > runs["hrnet_slim_w8_d1"]["extra"]["flops"]
    assert runs["given"]["extra"]["trained_here"] is False and runs["given"]["val"]["faces"] == 428
    assert (tmp_path / "report" / "pareto.png").stat().st_size > 1000


def test_sweep_unknown_width_is_an_error(tmp_path, capsys):
    assert main(["sweep", *_common(tmp_path, "--widths", "9")]) == 2
    assert "not in the model registry" in capsys.readouterr().err


def test_pareto_front():
    from facekd.engine.experiments import pareto_front

    pts = [(1.0, 5.0), (2.0, 4.0), (3.0, 4.5), (0.5, 9.0), (2.0, 4.0)]
    assert pareto_front(pts) == [0, 1, 3, 4]


def _candidate(tmp_path: Path, label: str, model: str, **edits) -> Path:
    import yaml

    cfg = yaml.safe_load((REPO / "configs" / "tiny_ci.yaml").read_text())
    cfg["data"].update(train=str(DATA / "train"), val=str(DATA / "val"))
    cfg["model"] = {"name": model, "overrides": edits.pop("overrides", {})}
    for section, values in edits.items():
        cfg[section].update(values)
    p = tmp_path / f"{label}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_sweep_candidates_trains_times_int8_and_plots(tmp_path):
    pytest.importorskip("executorch")
    a = _candidate(tmp_path, "basic", "hrnet_slim_w8_d1")
    b = _candidate(tmp_path, "shuffle48", "hrnet_lite_shuffle_w12_d1", overrides={"heatmap_stride": 2},
                   codec={"heatmap_size": 32})
    args = ["sweep", "--configs", f"{a},{b}", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"),
            "--set", "runtime.progress=false", "--set", "runtime.max_steps=2", "--default", "", "--no-dlib",
            "--latency-faces", "2", "--latency-rounds", "1"]
    assert main(args) == 0
    md = (tmp_path / "report" / "candidates.md").read_text()
    assert "| basic | hrnet_slim_w8_d1 | 64 | 16 |" in md
    assert "| shuffle48 | hrnet_lite_shuffle_w12_d1 {'heatmap_stride': 2} | 64 | 32 |" in md
    runs = {r["group"]: r for r in json.loads((tmp_path / "report" / "candidates.json").read_text())["runs"]}
    assert all(r["extra"]["fully_delegated"] and r["extra"]["int8_ms"] > 0 for r in runs.values())
    assert 0 < runs["basic"]["val"]["nme"] and (tmp_path / "report" / "pareto_int8.png").stat().st_size > 1000


def test_sweep_candidates_with_different_schedules_are_refused(tmp_path, capsys):
    a = _candidate(tmp_path, "a", "hrnet_slim_w8_d1")
    b = _candidate(tmp_path, "b", "hrnet_slim_w8_d1", schedule={"epochs": 3})
    assert main(["sweep", "--configs", f"{a},{b}", "--runs", str(tmp_path / "runs")]) == 2
    assert "candidate b differs from a in schedule.epochs" in capsys.readouterr().err
    assert main(["sweep", "--runs", str(tmp_path / "runs")]) == 2
    assert "give one of --config" in capsys.readouterr().err


def test_sweep_models_ranks_trained_folders_without_training(tmp_path):
    pytest.importorskip("executorch")
    a, b = _teacher(tmp_path, "light", "hrnet_slim_w8_d1"), _teacher(tmp_path, "wider", "hrnet_slim_w10_d1")
    args = ["sweep", "--models", f"{a},{b}", "--val", f"{TEST},{DATA / 'val'}", "--out", str(tmp_path / "report"),
            "--default", "", "--no-dlib", "--latency-faces", "2", "--latency-rounds", "1"]
    assert main(args) == 0
    md = (tmp_path / "report" / "candidates.md").read_text()
    assert "| light | hrnet_slim_w8_d1 | 64 | 16 |" in md and "| wider | hrnet_slim_w10_d1 | 64 | 16 |" in md
    assert "Trained students as given" in md and "train time" in md
    runs = {r["group"]: r for r in json.loads((tmp_path / "report" / "candidates.json").read_text())["runs"]}
    assert set(runs) == {"light", "wider"} and not (tmp_path / "runs").exists()
    assert all(r["extra"]["fully_delegated"] and 0 < r["val"]["nme"] for r in runs.values())
    assert (tmp_path / "report" / "pareto_int8.png").stat().st_size > 1000


def test_sweep_models_needs_saved_models_and_val(tmp_path, capsys):
    a = _teacher(tmp_path, "light", "hrnet_slim_w8_d1")
    assert main(["sweep", "--models", str(tmp_path / "nope"), "--val", str(TEST)]) == 2
    assert "not a saved model" in capsys.readouterr().err
    assert main(["sweep", "--models", str(a)]) == 2
    assert "--val" in capsys.readouterr().err


def test_gt_row_card_does_not_inherit_the_distillation_description():
    from facekd.commands.ablate import ROWS, row_config
    from facekd.config import load_config

    base = load_config(Path(__file__).resolve().parents[1] / "configs" / "distill_68pt_unlabelled.yaml")
    assert "distilled" in base.data.description
    rows = {r.name: r for r in ROWS}
    gt = row_config(base, rows["gt"], 0)
    assert gt.distill is None and gt.data.description == ""
    assert all(s.labelled for s in gt.data.train)
    assert row_config(base, rows["kd"], 0).data.description == base.data.description


def test_gt_cwd_row_trains_on_the_gt_rows_data_without_teachers_or_cache():
    from facekd.commands.ablate import ROWS, row_config
    from facekd.config import load_config

    base = load_config(Path(__file__).resolve().parents[1] / "configs" / "ablate_68pt_unlabelled.yaml")
    assert any(not s.labelled for s in base.data.train)
    rows = {r.name: r for r in ROWS}
    ctl = row_config(base, rows["gt_cwd"], 1, {"w24": "models/students/hrnet_slim_w24_d1_128_gt"}, "../some/cache")
    gt = row_config(base, rows["gt"], 1)
    assert ctl.distill.cd_target == "ground_truth" and ctl.distill.lambda_cd > 0
    assert ctl.distill.needed_teachers() == [] and ctl.distill.targets is None
    assert [s.path for s in ctl.data.train] == [s.path for s in gt.data.train]
    assert ctl.data.epoch_size == gt.data.epoch_size
    cwd = row_config(base, rows["cwd"], 1, None, "../some/cache")  # a teacher row keeps its cache and UTKFace
    assert cwd.distill.targets == "../some/cache" and any(not s.labelled for s in cwd.data.train)
