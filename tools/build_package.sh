#!/usr/bin/env bash
# Build the FetalViewer onedir bundle (dist/FetalViewer) from fetalviewer.spec and smoke-test it.
#
# Variants (the torch wheel installed in the build environment decides which one you get):
#   CPU build (default, smallest): install CPU-only torch first:
#     pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
#   CUDA build: the plain PyPI wheels ('pip install torch torchvision') bring the NVIDIA libraries.
# Then, with the runtime dependencies installed ('pip install .' or 'pip install -e .'):
#   bash tools/build_package.sh          (or: make package)
#
# The bundle is built from THIS source tree (it is put first on PYTHONPATH for the analysis), so a
# clean clone builds its own code even when another checkout is installed in editable mode.
# PyInstaller is installed if missing; nothing else is installed or changed in the environment.
# Environment: PYTHON (default python3), SKIP_SELF_TEST=1 to skip the smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install -q "pyinstaller>=6.6"
fi
"$PYTHON" - <<'EOF'
import torch
variant = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
print(f"building with torch {torch.__version__} ({variant} build)")
EOF

start=$(date +%s)
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN fetalviewer.spec
end=$(date +%s)
echo "build time: $((end - start)) s; bundle size: $(du -sh dist/FetalViewer | cut -f1)"
echo "largest parts of the bundle:"
du -sh dist/FetalViewer/_internal/* 2>/dev/null | sort -rh | head -8 || true  # head closing the pipe is fine

if [ "${SKIP_SELF_TEST:-0}" != "1" ]; then
    # Smoke test from another working directory, with no source tree on the path.
    tmp=$(mktemp -d)
    (cd "$tmp" && env -u PYTHONPATH FETALVIEWER_HOME="$tmp/home" QT_QPA_PLATFORM=offscreen \
        "$ROOT/dist/FetalViewer/FetalViewer-debug" --self-test)
    rm -rf "$tmp"
fi
