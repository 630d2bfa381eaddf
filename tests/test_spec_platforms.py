"""build.spec's platform branches, run here with PyInstaller's build steps replaced by recorders
(Windows and macOS cannot be built on this machine): from the file lists a PySide6 wheel has on
each system, the spec keeps what the app uses and drops the rest, and makes the executables
each system needs (Windows: a windowed and a console .exe; macOS: a windowed .app that opens
DICOM files; Linux: one console program)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT

SPEC = ROOT / "build.spec"

WINDOWS = {
    "PySide6/Qt6Core.dll": True, "PySide6/Qt6Gui.dll": True, "PySide6/Qt6Widgets.dll": True,
    "PySide6/plugins/platforms/qwindows.dll": True,
    "PySide6/plugins/platforms/qoffscreen.dll": True,
    "PySide6/plugins/platforms/qdirect2d.dll": False,
    "PySide6/plugins/styles/qmodernwindowsstyle.dll": True,
    "PySide6/plugins/imageformats/qjpeg.dll": False, "PySide6/plugins/tls/qschannelbackend.dll": False,
    "PySide6/Qt6Network.dll": False, "PySide6/Qt6Qml.dll": False, "PySide6/Qt6Pdf.dll": False,
    "PySide6/opengl32sw.dll": False, "PySide6/d3dcompiler_47.dll": False,
    "python311.dll": True, "numpy.libs/libscipy_openblas64_-abc.dll": True,
    "ai_edge_litert/_pywrap_litert_interpreter_wrapper.pyd": True,
    "libLiteRtWebGpuAccelerator.dll": False,
}
MACOS = {
    "PySide6/Qt/lib/QtCore.framework/Versions/A/QtCore": True,
    "PySide6/Qt/lib/QtWidgets.framework/Versions/A/QtWidgets": True,
    "PySide6/Qt/lib/QtNetwork.framework/Versions/A/QtNetwork": False,
    "PySide6/Qt/lib/QtPdf.framework/Versions/A/QtPdf": False,
    "PySide6/Qt/plugins/platforms/libqcocoa.dylib": True,
    "PySide6/Qt/plugins/platforms/libqoffscreen.dylib": True,
    "PySide6/Qt/plugins/styles/libqmacstyle.dylib": True,
    "PySide6/Qt/plugins/imageformats/libqjpeg.dylib": False,
    "PySide6/Qt/plugins/iconengines/libqsvgicon.dylib": False,
    "libpython3.11.dylib": True, "libstdc++.so.6": True,  # Linux host rules stay on Linux
}
LINUX = {
    "PySide6/Qt/lib/libQt6Core.so.6": True, "PySide6/Qt/lib/libQt6Network.so.6": False,
    "PySide6/Qt/plugins/platforms/libqxcb.so": True,
    "PySide6/Qt/plugins/platforms/libqwayland-egl.so": False,
    "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so": True,
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so": False,
    "libstdc++.so.6": False, "libxcb-cursor.so.0": False, "libfontconfig.so.1": False,
    "libdbus-1.so.3": False, "libX11.so.6": False, "libcrypto.so.3": False,
    # SQLite and zlib from the host (the Debian package depends on them)
    "libsqlite3.so.0": False, "libz.so.1": False, "libpython3.11.so.1.0": True,
    "pillow.libs/libxcb-9065bb12.so.1.1.0": True,  # Pillow's own copy, not the host's
    # OpenBLAS is kept; its GNU Fortran runtime comes from the host (libgfortran5)
    "numpy.libs/libscipy_openblas64_-32a4b2a6.so": True,
    "numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0": False,
    "numpy.libs/libquadmath-96973f99-934c22de.so.0.0.0": False,
}
TRANSLATIONS = {"PySide6/translations/qtbase_de.qm": False,
                "PySide6/Qt/translations/qtbase_fr.qm": False,
                "resources/model/model.tflite": True}


def run_spec(platform: str, files: dict[str, bool], monkeypatch: pytest.MonkeyPatch,
             tmp_path: Path) -> dict:
    """Execute build.spec as PyInstaller would on ``platform``, with recorders for its steps."""
    import PyInstaller.utils.hooks as hooks
    from PyInstaller.utils.hooks import qt as qt_hooks

    seen: dict = {"EXE": [], "COLLECT": [], "BUNDLE": []}

    class Analysis:
        def __init__(self, scripts: list[str], **kw: object) -> None:
            seen["Analysis"] = kw
            self.binaries = [(d, f"/src/{d}", "BINARY") for d in files]
            self.datas = [(d, f"/src/{d}", "DATA") for d in TRANSLATIONS]
            self.pure, self.scripts = [], []

    def collect(*args: object, **kw: object) -> str:
        seen["COLLECT"].append(args)
        return "collect"

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(hooks, "collect_submodules", lambda name, **kw: [name])
    monkeypatch.setattr(hooks, "copy_metadata", lambda name, **kw: [])
    # the spec patches PyInstaller's plugin collection: undone after the test
    monkeypatch.setattr(qt_hooks.QtLibraryInfo, "collect_plugins",
                        qt_hooks.QtLibraryInfo.collect_plugins)
    namespace = {
        "SPECPATH": str(ROOT), "workpath": str(tmp_path), "__name__": "__main__",
        "Analysis": Analysis, "PYZ": lambda *a, **k: SimpleNamespace(dependencies=[]),
        "EXE": lambda *a, **k: seen["EXE"].append(k) or k["name"],
        "COLLECT": collect, "BUNDLE": lambda *a, **k: seen["BUNDLE"].append(k) or k["name"],
    }
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)  # noqa: S102 - our own spec
    kept = {entry[0] for entry in seen["COLLECT"][0] if isinstance(entry, list)
            for entry in entry}
    seen["kept"] = kept
    return seen


@pytest.mark.parametrize("platform, files", [("win32", WINDOWS), ("darwin", MACOS),
                                             ("linux", LINUX)])
def test_each_platform_keeps_what_the_app_uses(platform, files, monkeypatch, tmp_path) -> None:
    seen = run_spec(platform, files, monkeypatch, tmp_path)
    for path, wanted in {**files, **TRANSLATIONS}.items():
        assert (path in seen["kept"]) == wanted, f"{platform}: {path} should be " + (
            "kept" if wanted else "dropped")
    excludes = seen["Analysis"]["excludes"]
    for name in ("tensorflow", "PySide6.QtNetwork", "requests", "ssl"):
        assert name in excludes
    assert "_hashlib" not in excludes  # the fast SHA-256 that classify uses on every film
    assert "PySide6.QtWidgets" in seen["Analysis"]["hiddenimports"]


def test_windows_gets_a_window_and_a_console_executable(monkeypatch, tmp_path) -> None:
    seen = run_spec("win32", WINDOWS, monkeypatch, tmp_path)
    assert [(e["name"], e["console"]) for e in seen["EXE"]] == [
        ("pneumonia-xray", False), ("pneumonia-xray-cli", True)]
    assert seen["BUNDLE"] == []


def test_macos_gets_an_app_that_opens_dicom(monkeypatch, tmp_path) -> None:
    seen = run_spec("darwin", MACOS, monkeypatch, tmp_path)
    assert [(e["name"], e["console"]) for e in seen["EXE"]] == [("pneumonia-xray", False)]
    (app,) = seen["BUNDLE"]
    assert app["name"] == "pneumonia-xray.app"
    (doc,) = app["info_plist"]["CFBundleDocumentTypes"]
    assert "org.nema.dicom" in doc["LSItemContentTypes"] and "dcm" in doc["CFBundleTypeExtensions"]


def test_linux_gets_one_console_program(monkeypatch, tmp_path) -> None:
    seen = run_spec("linux", LINUX, monkeypatch, tmp_path)
    assert [(e["name"], e["console"]) for e in seen["EXE"]] == [("pneumonia-xray", True)]
    assert seen["BUNDLE"] == []
