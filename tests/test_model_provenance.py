"""Provenance names the model that produced each value: the report's model card and model GA, the SR's
TID 4019 (algorithm name, version and the full weights sha256 as a parameter) and the JSON of FramePrediction."""

from __future__ import annotations

import dataclasses

from pydicom.sr.codedict import codes
from test_report_content import sample_exam

from fetalviewer.model.results import ModelInfo
from fetalviewer.report.build import build_report_content
from fetalviewer.report.sr import ObGynSR


def _mobile(info: ModelInfo) -> ModelInfo:
    return dataclasses.replace(
        info, weights_path="/weights/mobile_fetal_clip_weights.pt", weights_sha256="cd" * 32,
        config_name="MobileFetalCLIP_config", model_name="MobileFetalCLIP",
        description="MobileFetalCLIP (FastViT MCi0, 75 M parameters)",
    )  # fmt: skip


def _items(dataset):
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from _items(item)


def test_report_and_sr_name_the_model(tmp_path):
    loop, record, predictions, info = sample_exam()
    mobile = _mobile(info)
    content = build_report_content([loop], record, predictions, model_info=mobile)
    card = dict(content.model_card.fields)
    assert card["Model"] == "MobileFetalCLIP (FastViT MCi0, 75 M parameters), zero-shot"
    assert card["SHA-256"] == "cd" * 32 and "MobileFetalCLIP" in " ".join(content.model_card.evaluation)
    assert "(MobileFetalCLIP zero-shot, best head frame" in content.model_ga
    sr = ObGynSR.build(content, record.measurements, [loop], [loop.dataset()])
    path = ObGynSR.write(sr, tmp_path / "sr.dcm")
    report = ObGynSR.from_file(path)
    assert report.model_algorithm == ("MobileFetalCLIP zero-shot", "MobileFetalCLIP_config weights sha256 " + "cd" * 8)
    import pydicom

    texts = {(str(i.ConceptNameCodeSequence[0].CodeValue), str(getattr(i, "TextValue", "")))
             for i in _items(pydicom.dcmread(path)) if "ConceptNameCodeSequence" in i}  # fmt: skip
    assert (codes.DCM.AlgorithmParameters.value, "weights sha256 " + "cd" * 32) in texts
    # the FetalCLIP exam says FetalCLIP, not MobileFetalCLIP
    plain = build_report_content([loop], record, predictions, model_info=info)
    assert "MobileFetalCLIP" not in dict(plain.model_card.fields)["Model"]
    assert plain.algorithm[0] == "FetalCLIP zero-shot"
    loop.close()


def test_info_json_round_trip_keeps_the_model_name():
    info = _mobile(sample_exam(with_model=True)[3])
    again = ModelInfo.from_dict(info.to_dict())
    assert again.model_name == "MobileFetalCLIP" and again.algorithm == info.algorithm
