#!/usr/bin/env bash
# Install everything the tests need (system packages where we are allowed to, Python packages),
# check the architecture contracts, then run the whole test suite. Used by the README and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(xvfb dcmtk dicom3tools poppler-utils libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0
                 libfontconfig1 libdbus-1-3 libglib2.0-0 orthanc orthanc-dicomweb orthanc-gdcm)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The network tests start their own Orthanc (temporary config, free loopback ports); the package's
  # system service is neither needed nor wanted.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
    systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
else
  echo "note: not root or no apt-get; system packages (${SYSTEM_PACKAGES[*]}) must already be installed" >&2
fi

PYTHON=${PYTHON:-python3}
# test includes imageio-ffmpeg (the MP4 check's independent decoder); cluster is Ray (batch engine tests)
"$PYTHON" -m pip install -q -e ".[test,cluster]"
lint-imports --no-cache
"$PYTHON" -m ruff check fetalviewer tests tools bench   # includes TID253: no module-level torch/cv2/... imports
QT_QPA_PLATFORM=offscreen "$PYTHON" -m pytest "$@"
