"""Before the window starts on Linux: can Qt's "xcb" platform plugin load?

On a desktop without some X11 libraries (seen on a fresh Debian: ``libxcb-cursor0``, ``libxcb-icccm4``,
``libxcb-keysyms1``) Qt prints "Could not load the Qt platform plugin "xcb"" and aborts the process. This
module finds the missing libraries first, the way the dynamic loader would: the plugin's own dependencies
that ``ldd`` reports as "not found", plus ``libxcb-cursor.so.0``, which Qt 6.5 and later loads at run time
(it is no link dependency). No Qt import happens here.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

#: Shared library -> the Debian/Ubuntu package that installs it.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libdbus-1.so.3": "libdbus-1-3",
}
#: Loaded by the xcb plugin at run time (Qt >= 6.5), so ``ldd`` cannot see it.
RUNTIME_LIBRARIES = ("libxcb-cursor.so.0",)


def platform_would_be_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True when Qt would start with its "xcb" plugin: Linux, and ``QT_QPA_PLATFORM`` names xcb first, or
    is unset outside a Wayland session (Qt prefers its wayland plugin when ``WAYLAND_DISPLAY`` is set)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def xcb_plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so``, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in (Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                          Path(root) / "plugins" / "platforms" / "libqxcb.so"):  # fmt: skip
            if candidate.exists():
                return candidate
    return None


def not_found_in_ldd(output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``NAME => not found``, in order, each once."""
    names = [line.split("=>")[0].strip() for line in output.splitlines() if "=> not found" in line]
    return list(dict.fromkeys(names))


def _ldd(path: Path) -> str:
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        proc = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_xcb_libraries(
    plugin: Path | None = None,
    ldd: Callable[[Path], str] = _ldd,
    loads: Callable[[str], bool] = _loads,
) -> list[str]:
    """Shared libraries the xcb plugin needs that the dynamic loader cannot find (empty: all present)."""
    plugin = xcb_plugin_path() if plugin is None else plugin
    missing = not_found_in_ldd(ldd(plugin)) if plugin is not None else []
    missing += [name for name in RUNTIME_LIBRARIES if name not in missing and not loads(name)]
    return missing


def missing_libraries_message(missing: list[str]) -> str:
    """What to tell the user: the libraries, the packages to install, and how to pick another platform."""
    packages = [DEBIAN_PACKAGES.get(name, name) for name in missing]
    return (
        f'fetalviewer: the Qt platform plugin "xcb" cannot start: {", ".join(missing)} not found.\n'
        f"  Install (Debian/Ubuntu): sudo apt-get install {' '.join(dict.fromkeys(packages))}\n"
        "  Or choose another Qt platform with the variable QT_QPA_PLATFORM, e.g. QT_QPA_PLATFORM=wayland on a "
        "Wayland desktop, or QT_QPA_PLATFORM=offscreen for scripts (no window is shown)."
    )


def xcb_problem(environ: Mapping[str, str] | None = None, **kwargs) -> str | None:
    """The message for a start that would abort in Qt's xcb plugin, or None when it can start."""
    if not platform_would_be_xcb(environ):
        return None
    missing = missing_xcb_libraries(**kwargs)
    return missing_libraries_message(missing) if missing else None
