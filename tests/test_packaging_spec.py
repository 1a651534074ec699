"""fetalviewer.spec parses, names every data folder of the repository and never bundles FetalCLIP weights."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "fetalviewer.spec"


def _spec_literals() -> dict[str, object]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def _calls(name: str) -> list[ast.Call]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def test_spec_names_every_data_folder_that_exists():
    literals = _spec_literals()
    folders = literals["DATA_FOLDERS"]
    for folder in folders:
        assert (ROOT / folder).is_dir(), f"spec names missing folder {folder}"
    # Every top-level folder holding app data is named (code, tests and tooling are not data).
    not_data = {"fetalviewer", "tests", "tools", "bench", "docs", "build", "dist", ".ci", ".git"}
    data_dirs = {
        p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in not_data and not p.name.startswith(".")
        and not p.name.endswith(".egg-info")
    }
    assert data_dirs <= set(folders), f"data folders not in the spec: {sorted(data_dirs - set(folders))}"


def test_spec_never_bundles_fetalclip_weights_and_keeps_own_heads():
    patterns = _spec_literals()["EXCLUDED_DATA_PATTERNS"]

    def excluded(rel: str) -> bool:
        return any(re.search(p, rel) for p in patterns)

    assert excluded("weights/FetalCLIP_weights.pt")
    assert excluded("weights/FetalCLIP_weights.safetensors")
    assert not excluded("weights/default_head/model.safetensors")
    assert not excluded("resources/sample/cine.dcm")


def test_spec_two_executables_one_folder_no_upx_and_qt_trimmed():
    literals = _spec_literals()
    excluded = literals["EXCLUDED_MODULES"]
    for module in ("PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore"):
        assert module in excluded
    exes = _calls("EXE")
    assert len(exes) == 2
    consoles = sorted(
        next(k.value.value for k in call.keywords if k.arg == "console") for call in exes
    )
    assert consoles == [False, True]
    for call in exes + _calls("COLLECT"):
        upx = [k for k in call.keywords if k.arg == "upx"]
        assert upx and upx[0].value.value is False
    assert len(_calls("COLLECT")) == 1
    assert "__main__.py" in SPEC.read_text()


def _excluded_by_spec(rel: str) -> bool:
    return any(re.search(p, rel) for p in _spec_literals()["EXCLUDED_DATA_PATTERNS"])


def test_every_resource_file_is_bundled_model_configs_included():
    # The FetalCLIP *config* is needed at run time (the weights are not): a pattern that drops every
    # "FetalCLIP*" file would leave the frozen app unable to load any weights.
    resources = [p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file()]
    assert "resources/model_configs/FetalCLIP_config.json" in resources
    dropped = [rel for rel in resources if _excluded_by_spec(rel) and "__pycache__" not in rel]
    assert dropped == []
    assert _excluded_by_spec("weights/fetalclip_weights.PT")
    assert _excluded_by_spec("weights/sub/FetalCLIP_weights.pt")
    assert _excluded_by_spec("weights/heads/model.safetensors.tmp")


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "fetalviewer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_the_app_imports_is_excluded():
    excluded = _spec_literals()["EXCLUDED_MODULES"]
    imported = _imported_top_level_modules()
    assert "PySide6.QtWidgets" in imported and "torch" in imported  # the scan sees the real imports
    clashes = sorted(
        name for name in imported for ex in excluded if name == ex or name.startswith(ex + ".")
    )
    assert clashes == [], f"the spec excludes modules the app imports: {clashes}"


def test_torchvision_operator_library_is_matched():
    import fnmatch
    from importlib.util import find_spec

    patterns = _spec_literals()["TORCHVISION_LIBRARY_PATTERNS"]
    folder = Path(find_spec("torchvision").origin).parent
    libraries = [p.name for p in folder.iterdir() if p.suffix in (".so", ".pyd") and p.name.startswith("_C")]
    assert libraries, f"no torchvision operator library in {folder}"
    for name in libraries:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
