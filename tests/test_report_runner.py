"""``fetalviewer report`` runs the study through the workspace's runner with ONE model load, and says
truthfully what was saved when the export fails."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from fetalviewer.cli import main
from tests.test_analyze_heads import _cine, _install_chd_head

pytest_plugins = ["tests.model_fixtures"]


def test_report_loads_the_model_once_for_analysis_and_chd(
    tiny_loaded, tiny_weights, tiny_config, tmp_path, capsys, monkeypatch, one_torch_thread
):
    """One clip cached by the window (its heart frames without un-normalised embeddings), one clip not
    analysed yet, a CHD head installed: both need the model, which is loaded once."""
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.hashing import file_sha256
    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.model.service import InferenceService
    from fetalviewer.report.tables import read_report_json
    from fetalviewer.workspace.cache import AnalysisCache, CacheKey
    from fetalviewer.workspace.fetalclip_backend import identity_for
    from fetalviewer.workspace.results import InstanceAnalysis

    _install_chd_head(tiny_loaded, tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cached, fresh = _cine(tmp_path / "a", n=4), _cine(tmp_path / "b", n=3)
    ds = pydicom.dcmread(fresh)
    ds.StudyInstanceUID = pydicom.dcmread(cached).StudyInstanceUID  # one study, two clips
    ds.save_as(fresh)
    loop = open_instance(cached)
    analysis = InstanceAnalysis(loop.sop_instance_uid, 4, tuple(PLANE_CLASSES), tuple(BRAIN_SUBPLANE_CLASSES), 32)
    probs = np.full((4, len(PLANE_CLASSES)), 0.02, np.float32)
    for frame, plane in enumerate(("abdomen", "heart", "abdomen", "heart")):
        probs[frame, PLANE_CLASSES.index(plane)] = 1.0 - 0.02 * (len(PLANE_CLASSES) - 1)
    analysis.store([0, 1, 2, 3], plane_probs=probs, brain_probs=np.full((4, 3), 1 / 3, np.float32),
                   ga_days=np.full(4, np.nan, np.float32), embeddings=np.zeros((4, 32), np.float32))  # fmt: skip
    identity = identity_for(file_sha256(tiny_weights), "FetalCLIP_tiny_test")
    AnalysisCache().save(CacheKey.for_file(loop.sop_instance_uid, cached, identity), analysis)
    loop.close()

    loads = []
    real_load = InferenceService.load
    monkeypatch.setattr(InferenceService, "load", lambda self, *a, **k: loads.append(self) or real_load(self, *a, **k))
    out = tmp_path / "out"
    code = main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--weights",
                 str(tiny_weights), "--config", str(tiny_config), "--formats", "json", "--device", "cpu"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert len(loads) == 1
    assert "reusing the window's cached analysis: 4 frame(s) of 1 instance(s)" in printed
    assert "analysing 1 instance(s) with the model" in printed
    data = read_report_json(out / "report.json")
    assert any("heart frames" in flag for flag in data["chd_flags"])
    # the fresh clip's results (every 5th frame: frame 0) went to the window's cache
    from fetalviewer.workspace.study_analysis import load_cached_results, target_from_cine

    loop = open_instance(fresh)
    found = load_cached_results([target_from_cine(loop)], identity, AnalysisCache())
    loop.close()
    assert [int(i) for i in found[ds.SOPInstanceUID].done.nonzero()[0]] == [0]


def test_a_failed_export_says_what_the_exam_record_kept(tmp_path, capsys):
    from fetalviewer.exam.record import load_exam_record

    no_region = get_testdata_file("US1_UNCR.dcm")
    out = tmp_path / "o"
    code = main(["report", no_region, "--out", str(out), "--deidentify", "--impression", "normal anatomy"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"export failed, nothing was written to {out}" in err
    assert "(the exam record was saved with the impression)" in err
    uid = pydicom.dcmread(no_region, stop_before_pixels=True).StudyInstanceUID
    assert load_exam_record(uid).impression == "normal anatomy"  # it really was saved
    assert not out.exists() or list(out.iterdir()) == []
