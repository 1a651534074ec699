"""First start on Linux: missing X11 libraries are named before Qt's xcb plugin would abort."""

from __future__ import annotations

import os
import subprocess
import sys

from fetalviewer.ui import platform_check as pc

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffc)
\tlibQt6XcbQpa.so.6 => /opt/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f00)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f01)
"""


def test_platform_would_be_xcb():
    assert pc.platform_would_be_xcb({}, "linux")
    assert pc.platform_would_be_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert pc.platform_would_be_xcb({"QT_QPA_PLATFORM": "xcb;wayland", "WAYLAND_DISPLAY": "w-0"}, "linux")
    assert not pc.platform_would_be_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not pc.platform_would_be_xcb({"QT_QPA_PLATFORM": "wayland"}, "linux")
    assert not pc.platform_would_be_xcb({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not pc.platform_would_be_xcb({}, "win32") and not pc.platform_would_be_xcb({}, "darwin")


def test_missing_libraries_are_named_with_their_packages_and_the_variable(tmp_path):
    plugin = tmp_path / "libqxcb.so"
    missing = pc.missing_xcb_libraries(plugin, ldd=lambda p: LDD_OUTPUT, loads=lambda name: False)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    message = pc.missing_libraries_message(missing)
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0" in message
    assert "QT_QPA_PLATFORM" in message and "offscreen" in message
    # everything present: no message, whatever the platform
    assert pc.missing_xcb_libraries(plugin, ldd=lambda p: "", loads=lambda name: True) == []
    assert pc.xcb_problem({}, plugin=plugin, ldd=lambda p: "", loads=lambda name: True) is None
    assert pc.xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, plugin=plugin, ldd=lambda p: LDD_OUTPUT) is None
    assert "libxcb-keysyms1" in pc.xcb_problem({}, plugin=plugin, ldd=lambda p: LDD_OUTPUT, loads=lambda n: True)


def test_the_real_plugin_is_found_and_checked():
    plugin = pc.xcb_plugin_path()
    assert plugin is not None and plugin.name == "libqxcb.so"
    missing = pc.missing_xcb_libraries(plugin)
    assert all(name.startswith("lib") and ".so" in name for name in missing)


def test_window_start_says_what_is_missing_instead_of_aborting(tmp_path):
    """The real start with QT_QPA_PLATFORM=xcb: on this machine either the libraries are all present
    (Qt then fails for want of a display, not us) or the command exits 2 naming each missing package."""
    missing = pc.missing_xcb_libraries()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "fetalviewer"], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    if missing:
        assert proc.returncode == 2, proc.stderr
        for name in missing:
            assert pc.DEBIAN_PACKAGES.get(name, name) in proc.stderr
        assert "QT_QPA_PLATFORM" in proc.stderr and "Traceback" not in proc.stderr
    else:
        assert proc.returncode != 0 and "cannot start:" not in proc.stderr
