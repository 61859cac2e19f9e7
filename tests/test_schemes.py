"""Landmark schemes: structure of the flip tables, conversion, validation, and flips on real faces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facekd.schemes import (LandmarkScheme, SchemeError, common_points, convert, get_scheme,
                            list_schemes, load_scheme)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"


def _shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


@pytest.mark.parametrize("name", list_schemes())
def test_flip_perm_is_an_involution_that_swaps_sides(name):
    s = get_scheme(name)
    perm = np.asarray(s.flip_perm)
    assert sorted(perm.tolist()) == list(range(s.num_points))
    assert (perm[perm] == np.arange(s.num_points)).all()
    # every right_* group maps onto its left_* twin, point for point as a set
    for g, idx in s.groups.items():
        if g.startswith("right_"):
            twin = "left_" + g[len("right_"):]
            assert sorted(perm[list(idx)].tolist()) == sorted(s.groups[twin]), g
    assert perm[s.eye_corners[0]] == s.eye_corners[1]
    if s.pupils is not None:
        assert sorted(perm[list(s.pupils[0])].tolist()) == sorted(s.pupils[1])
    # groups partition the points
    all_idx = sorted(i for idx in s.groups.values() for i in idx)
    assert all_idx == list(range(s.num_points))


@pytest.mark.parametrize("name", ["ibug68", "wflw98"])
def test_jaw_contour_reverses_under_flip(name):
    s = get_scheme(name)
    jaw = list(s.groups["jaw"])
    assert [s.flip_perm[i] for i in jaw] == jaw[::-1]


def test_outer_eye_corners_are_the_documented_ones():
    assert get_scheme("ibug68").eye_corners == (36, 45)
    assert get_scheme("wflw98").eye_corners == (60, 72)
    assert get_scheme("cofw29").eye_corners == (8, 9)


@pytest.mark.parametrize("name", list_schemes())
def test_dict_round_trip(name):
    s = get_scheme(name)
    d = json.loads(json.dumps(s.to_dict()))
    assert LandmarkScheme.from_dict(d) == s


def test_module_constants():
    from facekd import schemes

    assert schemes.IBUG68.num_points == 68 and schemes.WFLW98.num_points == 98
    assert schemes.COFW29.num_points == 29
    with pytest.raises(AttributeError):
        schemes.NOPE  # noqa: B018


def test_load_custom_yaml_and_json(tmp_path):
    d = {"name": "tri", "num_points": 3, "flip_perm": [1, 0, 2], "eye_corners": [0, 1],
         "groups": {"right_eye": [0], "left_eye": [1], "nose": [2]}}
    (tmp_path / "tri.json").write_text(json.dumps(d))
    (tmp_path / "tri.yaml").write_text("name: tri\nnum_points: 3\nflip_perm: [1, 0, 2]\n"
                                       "eye_corners: [0, 1]\ngroups: {right_eye: [0], left_eye: [1], nose: [2]}\n")
    a, b = load_scheme(tmp_path / "tri.json"), load_scheme(tmp_path / "tri.yaml")
    assert a == b and a.num_points == 3 and a.pupils is None


@pytest.mark.parametrize("change, message", [
    ({"flip_perm": [0, 0, 2]}, "not a permutation"),
    ({"flip_perm": [1, 2, 0]}, "not an involution"),
    ({"flip_perm": [1, 0]}, "2 entries"),
    ({"flip_perm": [1, 0, 3]}, "outside [0, 2]"),
    ({"eye_corners": [0, 2]}, "swap the eye corners"),
    ({"groups": {"jaw": [5]}}, "group 'jaw'"),
    ({"num_points": 0}, "num_points"),
    ({"bogus": 1}, "unknown key"),
    ({"flip_perm": "abc"}, "integers"),
])
def test_invalid_schemes_are_refused_with_the_reason(tmp_path, change, message):
    d = {"name": "tri", "num_points": 3, "flip_perm": [1, 0, 2], "eye_corners": [0, 1]}
    d.update(change)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    with pytest.raises(SchemeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scheme(f)


def test_missing_key_and_unknown_name():
    with pytest.raises(SchemeError, match="missing required key 'flip_perm'"):
        LandmarkScheme.from_dict({"name": "x", "num_points": 1, "eye_corners": [0, 0]})
    with pytest.raises(SchemeError, match="unknown landmark scheme 'foo'"):
        get_scheme("foo")


def test_flip_points_mirrors_in_pixel_centre_convention():
    s = get_scheme("ibug68")
    pts = np.random.default_rng(0).uniform(0, 99, (68, 2)).astype(np.float32)
    f = s.flip_points(pts, 100)
    perm = list(s.flip_perm)
    np.testing.assert_allclose(f[:, 0], 99 - pts[perm, 0])
    np.testing.assert_allclose(f[:, 1], pts[perm, 1])
    np.testing.assert_allclose(s.flip_points(f, 100), pts, atol=1e-5)


# -- conversion -----------------------------------------------------------------------------

def test_wflw_to_ibug_map_is_the_community_map():
    ia, ib = common_points("wflw98", "ibug68")
    assert ib == list(range(68))
    assert ia[:17] == list(range(0, 33, 2))                        # every other jaw point
    assert ia[17:27] == [33, 34, 35, 36, 37, 42, 43, 44, 45, 46]  # upper brow contours
    assert ia[27:36] == list(range(51, 60))                        # nose
    assert ia[36:48] == [60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75]  # eyes
    assert ia[48:] == list(range(76, 96))                          # mouth
    assert common_points("ibug68", "wflw98") == (ib, ia)


def test_wflw_flip_table_agrees_with_ibug_through_the_map():
    """The 98-point flip table, seen through the 98 -> 68 map, must be the 68-point table."""
    w, i = get_scheme("wflw98"), get_scheme("ibug68")
    ia, _ = common_points(w, i)
    for k68, k98 in enumerate(ia):
        assert w.flip_perm[k98] == ia[i.flip_perm[k68]], (k68, k98)


def test_convert_both_ways():
    rng = np.random.default_rng(1)
    p98 = rng.normal(size=(5, 98, 2)).astype(np.float32)
    p68 = convert(p98, "wflw98", "ibug68")
    ia, _ = common_points("wflw98", "ibug68")
    np.testing.assert_array_equal(p68, p98[:, ia])
    # flipping commutes with conversion
    w, i = get_scheme("wflw98"), get_scheme("ibug68")
    np.testing.assert_array_equal(convert(w.flip_points(p98, 50), w, i), i.flip_points(p68, 50))
    with pytest.raises(SchemeError, match="covers only 68 of the 98"):
        convert(p68, "ibug68", "wflw98")
    back = convert(p68, "ibug68", "wflw98", fill=np.nan)
    assert back.shape == (5, 98, 2)
    assert np.isnan(back[:, :, 0]).sum(axis=1).tolist() == [30] * 5
    np.testing.assert_array_equal(back[:, ia], p68)
    # per-point arrays (e.g. visibility) convert too
    vis = convert(np.arange(98) % 2 == 0, "wflw98", "ibug68")
    assert vis.dtype == bool and vis[:17].all()
    with pytest.raises(SchemeError, match="no point correspondence"):
        common_points("cofw29", "ibug68")
    with pytest.raises(SchemeError, match="do not hold 98"):
        convert(p68, "wflw98", "ibug68")


# -- flips on real faces ---------------------------------------------------------------------

SOURCES = {
    "ibug68": ["300w", "300vw", "menpo", "dlib_faces/testing_with_face_landmarks.xml",
               "dlib_faces/training_with_face_landmarks.xml", "../ytf68/val"],
    "wflw98": ["wflw"],
    "cofw29": ["cofw/test_cofw.json"],
    "aflw19": ["aflw/test_aflw.json"],
}


def _canonical(p: np.ndarray, s: LandmarkScheme) -> np.ndarray:
    """Points in a frame where the outer eye corners are at (-0.5, 0) and (0.5, 0)."""
    a, b = p[s.eye_corners[0]], p[s.eye_corners[1]]
    d = b - a
    ang = np.arctan2(d[1], d[0])
    rot = np.array([[np.cos(ang), np.sin(ang)], [-np.sin(ang), np.cos(ang)]])
    return (p - (a + b) / 2) @ rot.T / np.linalg.norm(d)


def _frontal_faces(name: str) -> tuple[LandmarkScheme, np.ndarray]:
    from facekd.data import load_dataset

    s = get_scheme(name)
    mid = [i for i in range(s.num_points) if s.flip_perm[i] == i]
    qs = []
    for src in SOURCES[name]:
        for r in load_dataset(SAMPLES / src, s).records:
            q = _canonical(r.landmarks.astype(np.float64), s)
            if np.isfinite(q).all() and np.abs(q[mid, 0]).max() < 0.15:  # midline points centred
                qs.append(q)
    assert qs, f"no frontal face among the {name} samples"
    return s, np.stack(qs)


def _mirror_asymmetry(qs: np.ndarray, perm) -> np.ndarray:
    """Per point, median over faces of |q_i - mirror(q_perm[i])| (inter-ocular units)."""
    mirrored = qs * np.array([-1.0, 1.0])
    return np.median(np.linalg.norm(qs - mirrored[:, list(perm)], axis=2), axis=0)


@pytest.mark.parametrize("name", list(SOURCES))
def test_flip_pairs_are_mirror_images_on_real_faces(name):
    """On real frontal faces, point i must sit where the mirror of its partner perm[i] lands."""
    _shared()
    s, qs = _frontal_faces(name)
    asym = _mirror_asymmetry(qs, s.flip_perm)
    assert asym.max() < 0.3, (name, int(asym.argmax()), float(asym.max()))
    # the check has teeth: the identity table and a reversed contour are caught
    assert _mirror_asymmetry(qs, range(s.num_points)).max() > 0.6
    if name == "wflw98":  # the classic WFLW bug: lower brow contours paired in the wrong order
        bad = list(s.flip_perm)
        for a, b in [(38, 47), (39, 48), (40, 49), (41, 50)]:
            bad[a], bad[b] = b, a
        assert _mirror_asymmetry(qs, bad)[[38, 41, 47, 50]].min() > 0.3


def test_flipped_real_faces_keep_the_side_convention():
    """Mirror real faces and permute their points: the points called right_eye stay image-left
    and the jaw still runs image-left -> image-right."""
    _shared()
    from facekd.data import load_dataset

    checked = 0
    for src in ["300w", "wflw", "cofw/test_cofw.json", "aflw/test_aflw.json", "menpo", "300vw"]:
        ds = load_dataset(SAMPLES / src)
        s = ds.scheme
        for i in range(len(ds)):
            it = ds[i]
            f = s.flip_points(it["landmarks"], it["image"].shape[1])
            r_eye = np.nanmean(f[list(s.groups["right_eye"])], axis=0)
            l_eye = np.nanmean(f[list(s.groups["left_eye"])], axis=0)
            assert r_eye[0] < l_eye[0], (src, i)
            assert f[s.eye_corners[0], 0] < f[s.eye_corners[1], 0]
            jaw = list(s.groups["jaw"])
            if len(jaw) > 1:
                assert f[jaw[0], 0] < f[jaw[-1], 0]
            checked += 1
    assert checked >= 15
