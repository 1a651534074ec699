"""``fetalviewer measure``: equations, outline images and the exam table from the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fetalviewer import cli
from fetalviewer.analysis.dating import hadlock1984_hc_weeks, intergrowth2016_hc_days
from fetalviewer.analysis.geometry import ramanujan_perimeter


def _run(capsys, *argv):
    rc = cli.main(["measure", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_ga_json_has_every_applicable_formula(capsys):
    rc, out, _ = _run(capsys, "ga", "--hc-mm", "175", "--fl-mm", "33", "--json")
    assert rc == 0
    data = json.loads(out)
    hc = next(p for p in data["parameters"] if p["label"] == "HC")
    by_method = {e["method"]: e for e in hc["ga"]}
    assert by_method["Hadlock 1984 (HC)"]["value"] == pytest.approx(hadlock1984_hc_weeks(17.5) * 7)
    assert by_method["INTERGROWTH-21st 2016 (HC)"]["value"] == pytest.approx(intergrowth2016_hc_days(175))
    assert all(e["citation"] for e in hc["ga"])
    assert data["combined_ga"]["method"] == "Hadlock 1984 (HC+FL)"
    assert data["intergrowth_hc_fl"]["method"] == "INTERGROWTH-21st 2016 (HC+FL)"


def test_ga_text_prints_refusal_with_range(capsys):
    rc, out, _ = _run(capsys, "ga", "--hc-mm", "30")
    assert rc == 1
    assert "HC 30.0 mm is outside the valid range 68-360 mm" in out
    assert "References:" in out and "Radiology 1984;152:497-501" in out
    rc, _, err = _run(capsys, "ga")
    assert rc == 2 and "--hc-mm" in err


def test_ga_discordance_and_bpd_convention(capsys):
    rc, out, _ = _run(capsys, "ga", "--hc-mm", "175", "--model-ga-days", "170")
    assert rc == 0 and "DISCORDANT" in out
    _, oi, _ = _run(capsys, "ga", "--bpd-mm", "48", "--json")
    _, oo, _ = _run(capsys, "ga", "--bpd-mm", "48", "--bpd-convention", "outer-outer", "--json")
    ga_oi = json.loads(oi)["parameters"][0]["ga"][0]["value"]
    ga_oo = json.loads(oo)["parameters"][0]["ga"][0]["value"]
    assert ga_oo < ga_oi  # an outer-outer caliper is longer: converted down before Hadlock


def test_efw(capsys):
    rc, out, _ = _run(capsys, "efw", "--ac-mm", "300", "--fl-mm", "60", "--json")
    assert rc == 0
    (hadlock,) = json.loads(out)
    assert hadlock["method"] == "Hadlock 1985 (AC+FL)"
    assert hadlock["value"] == pytest.approx(10 ** (1.304 + 0.05281 * 30 + 0.1938 * 6 - 0.004 * 30 * 6))
    rc, out, _ = _run(capsys, "efw", "--ac-mm", "350", "--hc-mm", "330")
    assert rc == 0 and "INTERGROWTH-21st 2017 (AC+HC): 3,340 g" in out
    rc, _, err = _run(capsys, "efw", "--fl-mm", "60")
    assert rc == 2 and "--ac-mm" in err


def _outline_png(tmp_path, filled=False):
    import cv2

    img = np.zeros((540, 800), np.uint8)
    cv2.ellipse(img, (400, 270), (200, 160), 30, 0, 360, 255, -1 if filled else 1)
    path = tmp_path / ("mask.png" if filled else "outline.png")
    cv2.imwrite(str(path), img)
    return path


def test_outline_image(capsys, tmp_path):
    path = _outline_png(tmp_path)
    rc, out, _ = _run(capsys, "outline", str(path), "--pixel-size-mm", "0.5", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["hc_mm"] == pytest.approx(ramanujan_perimeter(100.0, 80.0), rel=0.005)
    assert data["bpd_mm"] == pytest.approx(160.0, rel=0.01)
    assert [g["method"] for g in data["ga"]] == ["Hadlock 1984 (HC)", "INTERGROWTH-21st 2016 (HC)"]
    rc, out, _ = _run(
        capsys, "hc18", str(_outline_png(tmp_path, filled=True)), "--filled", "--pixel-size-mm", "0.5"
    )
    assert rc == 0 and "HC " in out and "Hadlock 1984 (HC)" in out
    rc, out, _ = _run(capsys, "outline", str(path))
    assert rc == 0 and "px" in out and "no --pixel-size-mm" in out


def test_outline_bad_inputs_name_the_file(capsys, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    rc, _, err = _run(capsys, "outline", str(bad), "--pixel-size-mm", "0.1")
    assert rc == 2 and str(bad) in err and "not a readable image" in err  # bad input: exit 2
    empty = tmp_path / "empty.png"
    import cv2

    cv2.imwrite(str(empty), np.zeros((50, 50), np.uint8))
    rc, _, err = _run(capsys, "outline", str(empty))
    assert rc == 1 and str(empty) in err and "no measurement" in err


def test_who(capsys):
    rc, out, _ = _run(capsys, "who", "--ga-weeks", "20", "--hc-mm", "175", "--json")
    data = json.loads(out)
    assert rc == 0 and data["within_p2_5_p97_5"] is True
    assert data["hc_centiles_mm"]["50.0"] == pytest.approx(
        math.exp(
            2.09924879247164 + 0.253373656106037 * 20 - 6.05647816678282e-3 * 400 + 5.14256072059917e-5 * 8000
        )
    )
    rc, _, err = _run(capsys, "who", "--ga-weeks", "42")
    assert rc == 1 and "14-40" in err


def test_table_from_exam_record(capsys):
    from fetalviewer.analysis.measurement import make_distance, make_ellipse
    from fetalviewer.dicom.regions import UltrasoundRegion
    from fetalviewer.exam.record import ExamRecord, save_exam_record

    region = UltrasoundRegion(0, 0, 0, 799, 599, 1, 1, 3, 3, 0.01, 0.01)
    rec = ExamRecord("1.2.3.4")
    rec.put_measurement(make_ellipse("9", 0, (400, 300), (300, 260), 0, [region], label="AC"))
    rec.put_measurement(make_distance("9", 0, ((100, 100), (430, 100)), [region], label="FL"))
    save_exam_record(rec)
    rc, out, _ = _run(capsys, "table", "--study-uid", "1.2.3.4", "--json")
    assert rc == 0
    data = json.loads(out)
    assert [p["label"] for p in data["parameters"]] == ["AC", "FL"]
    assert data["combined_ga"]["method"] == "Hadlock 1984 (AC+FL)"
    assert data["efw"][0]["method"] == "Hadlock 1985 (AC+FL)"
    rc, _, err = _run(capsys, "table", "--study-uid", "5.6.7")
    assert rc == 1 and "no exam record" in err


def test_evaluate_hc(capsys, tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "filename,pixel size(mm),head circumference (mm)\n"
        "a.png,0.1,175.0\nb.png,0.1,200.0\nc.png,0.1,150.0\nd.png,0.1,300.0\n"
    )
    frames = [
        {"source": "/x/a.png", "hc_mm": 176.0},
        {"source": "/x/b.png", "hc_mm": 197.0},
        {
            "source": "/x/c.png",
            "hc_mm": None,
            "biometry_unavailable_reason": "no measurement: the outline touches the image border",
        },
        {"source": "/x/d.png", "hc_mm": 200.0},  # far too small: GA too young for a 300 mm head
    ]
    out_json = tmp_path / "analyze.json"
    out_json.write_text(json.dumps({"frames": frames}))
    rc, out, _ = _run(capsys, "evaluate-hc", str(out_json), str(truth), "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["n_images"] == 4 and data["n_measured"] == 3
    assert data["mean_abs_diff_mm"] == pytest.approx((1 + 3 + 100) / 3)
    assert data["median_abs_diff_mm"] == pytest.approx(3.0)
    assert data["refusals"] == {"no measurement: the outline touches the image border": 1}
    assert data["n_who_scored"] == 3 and data["who_band_share"] == pytest.approx(2 / 3)
    rc, out, _ = _run(capsys, "evaluate-hc", str(out_json), str(truth))
    assert rc == 0 and "3/4 images measured" in out and "WHO P2.5-P97.5" in out
    rc, _, err = _run(capsys, "evaluate-hc", str(truth), str(truth))
    assert rc == 2 and "not an analyze JSON" in err  # bad input: exit 2
