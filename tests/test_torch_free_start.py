"""Start-up never imports PyTorch where it is not needed: the window with both models installed and the
choice ``auto`` (the GPU question is asked on the thread that loads the model, not on the GUI thread), and
the CLI commands that read files or settings only. Each runs in a fresh interpreter so ``sys.modules`` tells
the truth; the window's run then analyses a still and checks ``auto`` chose MobileFetalCLIP on this CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fetalviewer.settings import update_settings
from tests.mobile_fixtures import TINY_MOBILE_CONFIG, tiny_mobile_state, tiny_mobile_weights  # noqa: F401
from tests.model_fixtures import TINY_CONFIG, tiny_state, tiny_weights  # noqa: F401 (fixtures)
from tests.test_workspace_ui import STILL, data_file

REPO = Path(__file__).resolve().parents[1]

_WINDOW_SCRIPT = """
import sys, time
from fetalviewer.ui.app import ensure_application
from fetalviewer.ui.first_run import should_ask_for_weights

app = ensure_application()
from fetalviewer.ui.main_window import MainWindow

asked = should_ask_for_weights()
w = MainWindow(); w.show()
end = time.monotonic() + 1.5
while time.monotonic() < end:  # the start-up timers and queued calls run
    app.processEvents(); time.sleep(0.02)
print("TORCH_AT_START", "torch" in sys.modules, "ASKED", asked, "STATE", w.workspace.model_state, flush=True)

from tests.mobile_fixtures import register_narrow_fastvit  # the tiny test tower (imports timm, torch)
register_narrow_fastvit()
import torch
torch.set_num_threads(1)

def wait(predicate, seconds):
    end = time.monotonic() + seconds
    while not predicate() and time.monotonic() < end:
        app.processEvents(); time.sleep(0.02)
    assert predicate(), "timed out"

loaded, done, failed = [], [], []
w.study_loaded.connect(lambda *a: loaded.append(1))
ws = w.workspace
ws.analysis_finished.connect(done.append)
ws.worker.analysis_failed.connect(lambda _rid, message: failed.append(message))
w.open_paths([sys.argv[1]])
wait(lambda: loaded, 60)
ws.analyse()
wait(lambda: done or failed, 600)
print("FAILED", failed, flush=True)
print("MODEL", ws.worker.backend.loaded.info.model_name, ws.worker.backend.loaded.input_px, flush=True)
w.player.pause(); w.close(); ws.shutdown()
"""


def test_window_with_both_models_and_auto_starts_without_torch(tiny_weights, tiny_mobile_weights):  # noqa: F811
    update_settings(model_choice="auto", installed_weights={
        "fetalclip": {"weights_path": str(tiny_weights), "weights_config_path": str(TINY_CONFIG)},
        "mobilefetalclip": {"weights_path": str(tiny_mobile_weights),
                            "weights_config_path": str(TINY_MOBILE_CONFIG)},
    })  # fmt: skip
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    env["CUDA_VISIBLE_DEVICES"] = ""  # this is the CPU case even where a GPU is present
    out = subprocess.run([sys.executable, "-c", _WINDOW_SCRIPT, data_file(STILL)], cwd=REPO, capture_output=True,
                         text=True, env=env, timeout=900)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "TORCH_AT_START False ASKED False STATE unloaded" in lines, out.stdout
    assert "FAILED []" in lines, out.stdout
    assert "MODEL MobileFetalCLIP 256" in lines, out.stdout  # auto on the CPU: the mobile model


@pytest.mark.parametrize("command", [["info", "{file}"], ["frame", "{file}", "--out", "{tmp}/f.png"],
                                     ["studies"], ["nodes", "list"]])  # fmt: skip
def test_cli_commands_that_need_no_model_do_not_import_torch(command, tmp_path):
    argv = [a.format(file=data_file(STILL), tmp=tmp_path) for a in command]
    code = ("import sys\nfrom fetalviewer.cli import main\nrc = main(sys.argv[1:])\n"
            "print('RC', rc, 'TORCH', 'torch' in sys.modules)\n")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True, env=env,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "RC 0 TORCH False", out.stdout + out.stderr
