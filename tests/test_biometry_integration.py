"""``fetalviewer analyze`` head biometry and CHD fields through the real CLI, without FetalCLIP weights.

The default head model (``weights/default_head``) runs on the bundled sample study (HC18 images with
their published HC in ``sample_truth.json``) and on plain PNGs cut from it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fetalviewer import cli
from fetalviewer.paths import sample_study_dir

HC_TOLERANCE_REL = 0.06  # one image; the held-out mean error is reported separately (README of the head)


def _truth() -> dict:
    path = sample_study_dir() / "sample_truth.json"
    if not path.exists():
        pytest.skip("the bundled sample study is not built")
    return json.loads(path.read_text())


def _still(name: str = "US_still_254_HC.dcm") -> dict:
    return next(i for i in _truth()["instances"] if i["file"] == name)


def _analyze(tmp_path, capsys, *argv) -> tuple[int, dict, str]:
    out = tmp_path / "analyze.json"
    rc = cli.main(["analyze", *map(str, argv), "--json", str(out)])
    text = capsys.readouterr().out
    return rc, (json.loads(out.read_text()) if out.exists() else {}), text


def _png_of_region(tmp_path, still: dict) -> tuple[object, tuple[int, int]]:
    """The still's 2D tissue region as a plain grey PNG; returns (path, (x0, y0) of the crop)."""
    import cv2

    from fetalviewer.dicom import open_instance

    loop = open_instance(sample_study_dir() / still["file"])
    try:
        frame = loop.frame(0)
    finally:
        loop.close()
    x0, y0, x1, y1 = still["tissue_region_px"]
    crop = frame[y0 : y1 + 1, x0 : x1 + 1]
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    path = tmp_path / "head.png"
    assert cv2.imwrite(str(path), crop)
    return path, (x0, y0)


def _by_method(frame: dict) -> dict:
    return {g["method"]: g for g in frame["ga_formulas"]}


def test_sample_still_gets_contour_ellipse_hc_and_ga_without_weights(tmp_path, capsys):
    still = _still()
    rc, data, text = _analyze(tmp_path, capsys, sample_study_dir() / still["file"])
    assert rc == 0
    (frame,) = data["frames"]
    # no FetalCLIP weights here: plane labels and model GA are unavailable with the reason
    assert frame["top_plane"] is None and "weights" in frame["plane_unavailable_reason"]
    assert frame["ga_days"] is None and frame["ga_unavailable_reason"]
    # the default head still measured the head, calibrated by the DICOM ultrasound region
    assert frame["biometry_unavailable_reason"] is None
    assert frame["hc_mm"] == pytest.approx(still["hc_mm"], rel=HC_TOLERANCE_REL)
    assert 0 < frame["bpd_mm"] < frame["ofd_mm"] < frame["hc_mm"] / 2
    assert frame["mm_per_px"] == pytest.approx([still["pixel_size_mm"]] * 2, rel=1e-6)
    # geometry in ORIGINAL frame pixels: the ellipse lies where HC18's annotation ellipse is
    truth_e = still["annotation_ellipse"]
    cx, cy = frame["ellipse"]["center_px"]
    assert math.hypot(cx - truth_e["center_px"][0], cy - truth_e["center_px"][1]) < 20
    x0, y0, x1, y1 = still["tissue_region_px"]
    contour = np.asarray(frame["contour_px"])
    assert contour.shape[0] >= 20 and contour.shape[1] == 2
    assert contour[:, 0].min() >= x0 and contour[:, 0].max() <= x1 + 1
    assert contour[:, 1].min() >= y0 and contour[:, 1].max() <= y1 + 1
    # GA by each formula, named and cited; no discordance without a model GA
    methods = _by_method(frame)
    assert set(methods) == {"Hadlock 1984 (HC)", "INTERGROWTH-21st 2016 (HC)"}
    assert all(g["citation"] and g["ga_days"] > 0 for g in methods.values())
    assert frame["ga_discordance_flag"] is None
    assert all(d["flag"] is None and "model GA" in d["reason"] for d in frame["ga_discordance"])
    # CHD: why there is no score
    assert frame["chd_review_flag"] is None and "FetalCLIP" in frame["chd_unavailable_reason"]
    assert frame["head_segmentation"]["source"] == "default-head"
    assert "no FetalCLIP weights" in frame["head_segmentation"]["fetalclip_seg_head"]
    assert f"head biometry (automatic): HC {frame['hc_mm']:.1f} mm" in text


def test_sample_cine_frames_are_measured_in_the_region_calibration(tmp_path, capsys):
    cine = next(i for i in _truth()["instances"] if "cine" in i["file"])
    rc, data, _ = _analyze(tmp_path, capsys, sample_study_dir() / cine["file"], "--step", "60")
    assert rc == 0
    assert [f["frame_index"] for f in data["frames"]] == [0, 60]
    for frame in data["frames"]:
        assert frame["sop_instance_uid"] == cine["sop_instance_uid"]
        apparent = cine["frames"][frame["frame_index"]]["apparent_hc_mm"]  # the head moves and zooms
        assert frame["hc_mm"] == pytest.approx(apparent, rel=HC_TOLERANCE_REL)
        assert frame["mm_per_px"] == pytest.approx([cine["pixel_size_mm"]] * 2, rel=1e-6)


def test_plain_png_with_pixel_size_is_measured_in_its_own_pixels(tmp_path, capsys):
    still = _still()
    png, (x0, y0) = _png_of_region(tmp_path, still)
    rc, data, _ = _analyze(tmp_path, capsys, png, "--pixel-size-mm", still["pixel_size_mm"])
    assert rc == 0
    (frame,) = data["frames"]
    assert frame["hc_mm"] == pytest.approx(still["hc_mm"], rel=HC_TOLERANCE_REL)
    assert frame["calibration_source"] == "pixel size given by the user"
    cx, cy = frame["ellipse"]["center_px"]  # the PNG's pixels: the crop origin is undone by the user
    truth_c = still["annotation_ellipse"]["center_px"]
    assert math.hypot(cx + x0 - truth_c[0], cy + y0 - truth_c[1]) < 20
    assert frame["head_segmentation"]["crop_box_px"][:2] == [0, 0]


def test_plain_png_without_pixel_size_shows_contour_but_no_mm_and_says_why(tmp_path, capsys):
    png, _ = _png_of_region(tmp_path, _still())
    rc, data, text = _analyze(tmp_path, capsys, png)
    assert rc == 0
    (frame,) = data["frames"]
    assert frame["contour_px"] and frame["ellipse"] and frame["hc_px"] > 100
    assert frame["hc_mm"] is None and frame["bpd_mm"] is None and frame["ga_formulas"] == []
    assert "--pixel-size-mm" in frame["biometry_unavailable_reason"]
    assert "no mm and no GA" in text


def test_image_without_a_head_gives_no_measurement_and_the_reason(tmp_path, capsys):
    import cv2

    path = tmp_path / "blank.png"
    assert cv2.imwrite(str(path), np.zeros((240, 320), np.uint8))
    rc, data, text = _analyze(tmp_path, capsys, path, "--pixel-size-mm", "0.2")
    assert rc == 0
    (frame,) = data["frames"]
    assert frame["ellipse"] is None and frame["hc_mm"] is None
    assert frame["biometry_unavailable_reason"].startswith("no measurement:")
    assert "head biometry unavailable" in text


def _prediction(top_plane: str, ga_days: int | None = None):
    from fetalviewer.model.planes import PLANE_CLASSES
    from fetalviewer.model.results import FramePrediction

    probs = {k: (0.92 if k == top_plane else 0.01) for k in PLANE_CLASSES}
    return FramePrediction(
        "x.png", None, probs, top_plane, 0.92, ga_days=ga_days,
        ga_unavailable_reason=None if ga_days is not None else "not a head frame",
    )


def test_model_plane_gates_head_biometry_and_chd(tmp_path):
    from fetalviewer.commands.analyze import FrameContext, frame_record
    from fetalviewer.model.inputs import frame_input_from_image

    png, _ = _png_of_region(tmp_path, _still())
    item = frame_input_from_image(png, 0.127)
    abdomen = frame_record(FrameContext(str(png), None, None, item, _prediction("abdomen")))
    assert abdomen["hc_mm"] is None and "not a head frame (model top plane: abdomen)" in (
        abdomen["biometry_unavailable_reason"]
    )
    assert abdomen["chd_unavailable_reason"] == "not a heart frame (model top plane: abdomen)"
    heart = frame_record(FrameContext(str(png), None, None, item, _prediction("heart")))
    assert heart["chd_review_flag"] is None and "no CHD head is installed" in heart["chd_unavailable_reason"]
    assert "train-head chd" in heart["chd_unavailable_reason"]


def test_model_ga_far_from_formula_ga_raises_the_discordance_flag(tmp_path):
    from fetalviewer.commands.analyze import FrameContext, frame_record
    from fetalviewer.model.inputs import frame_input_from_image
    from fetalviewer.settings import update_settings

    still = _still()
    png, _ = _png_of_region(tmp_path, still)
    item = frame_input_from_image(png, still["pixel_size_mm"])
    base = frame_record(FrameContext(str(png), None, None, item, _prediction("brain", 140)))
    hadlock = _by_method(base)["Hadlock 1984 (HC)"]["ga_days"]
    near = frame_record(FrameContext(str(png), None, None, item, _prediction("brain", round(hadlock) + 3)))
    far = frame_record(FrameContext(str(png), None, None, item, _prediction("brain", round(hadlock) + 30)))
    assert near["ga_discordance_flag"] is False
    assert far["ga_discordance_flag"] is True
    update_settings(discordance_threshold_days=40)  # the threshold comes from the settings
    relaxed = frame_record(FrameContext(str(png), None, None, item, _prediction("brain", round(hadlock) + 30)))
    assert relaxed["ga_discordance_flag"] is False
    assert relaxed["ga_discordance"][0]["threshold_days"] == 40
