"""One exit-status mapping, one set of model options, an explicit command list (fetalviewer.cli)."""

from __future__ import annotations

import argparse

import pytest

from fetalviewer import cli
from fetalviewer.errors import DicomReadError, UsageError


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_an_unknown_word_is_refused_without_opening_the_window(capsys, monkeypatch):
    import fetalviewer.commands.view as view

    monkeypatch.setattr(view, "run", lambda args: pytest.fail("the window must not start"))
    assert cli.main(["analyse", "x.dcm"]) == 2
    err = capsys.readouterr().err
    assert "'analyse' is neither a command nor an existing file or folder" in err
    assert "did you mean 'analyze'" in err
    assert cli.main(["no-such-thing-at-all"]) == 2
    assert "no-such-thing-at-all" in capsys.readouterr().err


def test_view_refuses_a_missing_path_before_starting_qt(tmp_path, capsys):
    real = tmp_path / "real.dcm"
    real.write_bytes(b"")
    assert cli.main(["view", str(real), str(tmp_path / "gone.dcm")]) == 2
    err = capsys.readouterr().err
    assert "gone.dcm: no such file or folder" in err and "real.dcm" not in err


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UsageError("--top must be 1 or more"), 2),
        (DicomReadError("a.dcm: not a DICOM file"), 2),
        (FileNotFoundError(2, "No such file or directory", "/x/out.png"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_bad_input_maps_to_exit_2_with_the_message(exc, status, capsys):
    def run(_args):
        raise exc

    assert cli.run_command("demo", run, argparse.Namespace()) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if status == 2:
        assert err.startswith("fetalviewer demo: error: ")
        assert (exc.filename if isinstance(exc, OSError) else str(exc)) in err


def test_an_internal_error_exits_1_naming_the_crash_report(capsys):
    def run(_args):
        raise ZeroDivisionError("boom")

    assert cli.run_command("demo", run, argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert "internal error (ZeroDivisionError: boom)" in err and "Traceback" not in err
    report = err.rsplit("details in ", 1)[1].strip()
    from pathlib import Path

    text = Path(report).read_text(encoding="utf-8")
    assert "ZeroDivisionError: boom" in text and "Traceback" in text


def test_every_command_is_listed_explicitly_and_model_options_are_shared():
    from fetalviewer.commands.options import MODEL_CHOICES
    from fetalviewer.model.devices import DEVICE_CHOICES

    commands = cli.load_commands()
    assert len(commands) == len(cli.COMMAND_MODULES)
    parser = cli.build_parser(commands)
    with_device = []
    for name, sub in _subparsers(parser):
        for action in sub._actions:
            if action.dest == "device":
                assert tuple(action.choices) == DEVICE_CHOICES, name
                with_device.append(name)
            if action.dest == "model":
                assert tuple(action.choices) == MODEL_CHOICES, name
    assert {"analyze", "report", "train-head"} <= set(with_device)
    args = parser.parse_args(["analyze", "a.dcm", "--model", "fetalclip", "--device", "cpu"])
    assert (args.model, args.device, args.weights, args.config) == ("fetalclip", "cpu", None, None)


def test_analyze_extenders_are_an_explicit_list():
    from fetalviewer.commands import analyze, analyze_biometry

    assert analyze.FRAME_EXTENDERS == [analyze_biometry.add_biometry_and_chd]
    assert analyze.CLIP_EXTENDERS == [analyze_biometry.add_clip_chd]


def test_frame_numbers_for_people_are_1_based():
    from fetalviewer.analysis.frame_numbers import frame_label, frame_number

    assert frame_number(0) == 1 and frame_label(12, 120) == "frame 13 of 120" and frame_label(None) == ""
    with pytest.raises(ValueError):
        frame_number(-1)


def test_a_refused_deidentification_exits_2_and_writes_nothing(tmp_path, capsys):
    from pydicom.data import get_testdata_file

    no_region = get_testdata_file("US1_UNCR.dcm")  # no 2D imaging region: burned-in text cannot be cleaned
    out = tmp_path / "out"
    assert cli.main(["deidentify", no_region, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "US1_UNCR.dcm" in err and f"nothing was written to {out}" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
