"""Write the third-party licence file of a build from the installed Python distributions.

Usage: python tools/third_party_licenses.py OUT.txt   (every installed distribution)
The PyInstaller spec calls :func:`build_licence_text` with the modules it actually bundles.

Lists every installed distribution with its version, declared licence (License-Expression,
License or the licence classifiers) and the text of the licence files it ships, so that a
bundle carries the notices of what it contains. Project-level notices (HC18 data, FetalCLIP
prompts) are appended from NOTICE.md.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared_licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    text = (meta.get("License") or "").strip()
    if classifiers:
        return "; ".join(classifiers)
    if text and len(text) < 200:
        return text
    return "see licence text below" if text else "not declared"


def _licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    texts = []
    for file in dist.files or []:
        name = file.name.upper()
        if any(key in name for key in ("LICENSE", "LICENCE", "COPYING", "NOTICE")) and not name.endswith(".PY"):
            try:
                texts.append((str(file), Path(dist.locate_file(file)).read_text(encoding="utf-8", errors="replace")))
            except OSError:
                continue
    return texts


def bundled_distributions(top_level_modules: set[str] | None) -> list[metadata.Distribution]:
    """Distributions that provide any of ``top_level_modules`` (all installed ones when None)."""
    by_name = {(d.metadata["Name"] or "").lower(): d for d in metadata.distributions() if d.metadata["Name"]}
    if top_level_modules is not None:
        providers = metadata.packages_distributions()
        wanted = {name.lower() for module in top_level_modules for name in providers.get(module, [])}
        by_name = {name: dist for name, dist in by_name.items() if name in wanted}
    return sorted(by_name.values(), key=lambda d: d.metadata["Name"].lower())


def build_licence_text(top_level_modules: set[str] | None = None) -> str:
    dists = bundled_distributions(top_level_modules)
    parts = ["FetalViewer: third-party software and data notices", "=" * 52, ""]
    for dist in dists:
        parts.append(f"{dist.metadata['Name']} {dist.version}: {_declared_licence(dist)}")
    parts.append("")
    notice = ROOT / "NOTICE.md"
    if notice.exists():
        parts += ["Project notices", "-" * 15, notice.read_text(encoding="utf-8"), ""]
    for dist in dists:
        for file_name, text in _licence_texts(dist):
            parts += ["", "-" * 78, f"{dist.metadata['Name']} {dist.version}: {file_name}", "-" * 78, text]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from fetalviewer.atomic import write_text_atomic

    write_text_atomic(argv[1], build_licence_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
