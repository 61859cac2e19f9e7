"""Learning curves: facekd.engine.plots.read_val_log / plot_learning_curves and `facekd curves`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facekd.cli import main
from facekd.engine.plots import plot_learning_curves, read_val_log
from facekd.errors import FacekdError

HEADER = "step,epoch,val_nme,val_a/nme,val_b/nme,best_nme\n"


def _run(tmp_path, name, rows):
    d = tmp_path / name
    d.mkdir()
    (d / "val_log.csv").write_text(HEADER + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return d


def test_read_val_log_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    d = _run(tmp_path, "r", [(10, 1, 0.07, 0.08, 0.06, 0.07), (20, 2, 0.06, 0.07, 0.05, 0.06),
                             (20, 2, 0.055, 0.065, 0.045, 0.055), (30, 3, 0.05, 0.06, 0.04, 0.05)])
    log = read_val_log(d)
    np.testing.assert_array_equal(log["epoch"], [1, 2, 3])
    np.testing.assert_allclose(log["val_nme"], [0.07, 0.055, 0.05])
    assert read_val_log(d / "val_log.csv")["val_a/nme"][1] == pytest.approx(0.065)
    with pytest.raises(FacekdError, match="no val_log.csv"):
        read_val_log(tmp_path / "missing")


def test_plot_and_cli(tmp_path, capsys):
    a = _run(tmp_path, "a", [(10, 1, 0.07, 0.08, 0.06, 0.07), (20, 2, 0.05, 0.06, 0.04, 0.05)])
    b = _run(tmp_path, "b", [(10, 1, 0.09, 0.1, 0.08, 0.09), (20, 2, 0.06, 0.07, 0.05, 0.06),
                             (30, 3, 0.065, 0.07, 0.06, 0.06)])
    png = plot_learning_curves({"a": a, "b": b}, tmp_path / "c.png", reference={"target": 0.045})
    assert Image.open(png).size[0] > 400
    assert main(["curves", "--run", f"a={a}", "--run", f"b={b}", "--ref", "target=4.5",
                 "--out", str(tmp_path / "cli.png")]) == 0
    out = capsys.readouterr().out
    assert "a: 2 epochs, best mean val NME 5.000% @ epoch 2" in out
    assert "b: 3 epochs, best mean val NME 6.000% @ epoch 2, last 6.500%" in out
    assert (tmp_path / "cli.png").is_file()
    assert main(["curves", "--run", f"a={tmp_path / 'nope'}", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["curves", "--run", f"a={a}", "--ref", "t=abc", "--out", str(tmp_path / "x.png")]) == 2
    assert "the NME must be a number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["curves", "--run", "no-equals-sign", "--out", str(tmp_path / "x.png")])
