"""A generated corpus of bad and odd inputs, built in a temporary folder (nothing binary is
committed). Each :class:`Case` says what the loader must do with it: decode it correctly
("image"), refuse it before the model ("out_of_scope"), or give a clear per-file error
("error", with a pattern the message must match).
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pneumonia_core.imageio import MAX_FILE_BYTES, DecodedImage
from tests.reliability.builders import (
    bmp_with_size,
    deflate_bomb_dicom,
    deflated_dicom,
    dicom_bytes,
    encode,
    jpeg_with_size,
    mr_small_reference,
    png_header_only,
    pydicom_test_file,
    tiff_with_size,
    xray,
)

ERROR = "error"
DEEP_TREE_LEVELS = 150
IMAGE = "image"  # decodes; the model scores it (status ok) or the feature guard refuses it
OUT_OF_SCOPE = "out_of_scope"  # decodes, refused before the model for a known reason


@dataclass
class Case:
    name: str
    relpath: str  # relative to the corpus root (explicit cases live beside the folder)
    expect: str
    pattern: str = ""  # regex (case-insensitive) the message must match
    explicit: bool = False  # passed by name (suffix not scanned), not found by the folder scan
    check: Callable[[DecodedImage], None] | None = None
    after_listing: Callable[[Path], None] | None = None  # runs between listing and reading

    def matches(self, message: str) -> bool:
        return re.search(self.pattern, message, re.IGNORECASE) is not None


# -- checks on decoded images ----------------------------------------------------------------

def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def check_like(reference: np.ndarray, min_corr: float = 0.97) -> Callable[[DecodedImage], None]:
    def check(d: DecodedImage) -> None:
        assert d.pixels.dtype == np.uint8 and d.pixels.ndim == 2
        assert d.pixels.shape == reference.shape, (d.pixels.shape, reference.shape)
        assert corr(d.pixels, reference) >= min_corr, corr(d.pixels, reference)
    return check


def check_full_range(d: DecodedImage) -> None:
    assert d.pixels.min() == 0 and d.pixels.max() == 255
    assert not d.was_color


def check_equal(reference: np.ndarray) -> Callable[[DecodedImage], None]:
    def check(d: DecodedImage) -> None:
        np.testing.assert_array_equal(d.pixels, reference)
    return check


def marker_image() -> np.ndarray:
    """A 160 (w) x 96 (h) grey image with a bright block in its top-left corner."""
    img = xray((160, 96), seed=7) // 2
    img[:20, :30] = 255
    return img


# -- the corpus ------------------------------------------------------------------------------

def build_corpus(root: Path) -> tuple[Path, list[Case]]:
    """Write every case under ``root``; return (folder to scan, cases)."""
    folder = root / "corpus"
    folder.mkdir(parents=True)
    cases: list[Case] = []

    def add(case: Case, content: bytes | None = None) -> Path:
        path = (root if case.explicit else folder) / case.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        cases.append(case)
        return path

    grey = xray()
    jpeg = encode(grey, "JPEG", quality=90)
    png = encode(grey, "PNG")

    # Empty, truncated, corrupt, wrong format ---------------------------------------------
    add(Case("empty file", "empty.jpeg", ERROR, r"empty file"), b"")
    add(Case("truncated JPEG (60 %)", "truncated.jpeg", ERROR, r"truncated|corrupt"),
        jpeg[: len(jpeg) * 6 // 10])
    add(Case("JPEG header only", "header_only.jpeg", ERROR, r"truncated|corrupt"), jpeg[:300])
    add(Case("truncated PNG", "truncated.png", ERROR, r"truncated|corrupt"), png[: len(png) // 2])
    bad_crc = bytearray(png)
    bad_crc[30] ^= 0xFF  # inside the IHDR CRC
    add(Case("PNG with a corrupt header CRC", "bad_crc.png", ERROR, r"corrupt PNG"), bytes(bad_crc))
    add(Case("text file named .jpeg", "notes.jpeg", ERROR, r"unsupported file type: text"),
        "Patient list\nnot an image, ünïcödé\n".encode())
    add(Case("HTML page named .png", "page.png", ERROR, r"HTML"),
        b"<!DOCTYPE html><html><body>404</body></html>")
    add(Case("GIF named .png", "anim.png", ERROR, r"GIF"), encode(grey, "GIF"))
    add(Case("PDF named .tif", "report.tif", ERROR, r"PDF"), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    zbuf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("a.jpeg", jpeg)
    add(Case("ZIP named .dcm", "study.dcm", ERROR, r"ZIP"), zbuf.getvalue())
    add(Case("random bytes named .bmp", "noise.bmp", ERROR, r"not a recognised image format"),
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    add(Case("GIF by name (explicit)", "photo.gif", ERROR, r"GIF", explicit=True), encode(grey, "GIF"))
    add(Case("text by name (explicit)", "readme.txt", ERROR, r"text", explicit=True), b"hello\n")
    add(Case("ZIP by name (explicit)", "bundle.zip", ERROR, r"ZIP", explicit=True), zbuf.getvalue())

    # Bombs and bounds ------------------------------------------------------------------------
    add(Case("PNG bomb 100k x 100k", "bomb.png", ERROR, r"too large"), png_header_only(100_000, 100_000))
    add(Case("16-bit PNG bomb 30k x 30k", "bomb16.png", ERROR, r"too large"),
        png_header_only(30_000, 30_000, bit_depth=16))
    add(Case("JPEG bomb 65k x 65k", "bomb.jpeg", ERROR, r"too large"), jpeg_with_size(65_000, 65_000))
    add(Case("BMP bomb 50k x 50k", "bomb.bmp", ERROR, r"too large|corrupt"), bmp_with_size(50_000, 50_000))
    add(Case("TIFF bomb 60k x 60k", "bomb.tif", ERROR, r"too large"), tiff_with_size(60_000, 60_000))
    add(Case("DICOM Rows/Columns 65535", "bomb_rows.dcm", ERROR, r"too large"),
        dicom_bytes(grey, rows_cols=(65535, 65535)))
    add(Case("deflated DICOM bomb (300 MB)", "bomb_deflate.dcm", ERROR, r"bomb"),
        deflate_bomb_dicom(300 * 2**20))
    big = add(Case("file over MAX_FILE_BYTES (sparse)", "huge.dcm", ERROR, r"too large"))
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)

    # Geometry -------------------------------------------------------------------------------
    add(Case("1 x 1 image", "tiny.png", ERROR, r"too small"), encode(np.zeros((1, 1), np.uint8), "PNG"))
    add(Case("4000 x 15 sliver", "sliver.png", ERROR, r"too small"), encode(xray((4000, 15)), "PNG"))
    add(Case("20 x 4000 thin strip", "thin.png", ERROR, r"too thin"), encode(xray((20, 4000)), "PNG"))
    tiny = xray((16, 16), seed=3)
    add(Case("16 x 16 (smallest allowed)", "min16.png", IMAGE, check=check_equal(tiny)),
        encode(tiny, "PNG"))

    # Pixel formats --------------------------------------------------------------------------
    g12 = grey.astype(np.uint16) * 16
    add(Case("16-bit TIFF", "g16.tif", IMAGE, check=check_full_range), encode(g12, "TIFF"))
    add(Case("16-bit PNG", "g16.png", IMAGE, check=check_full_range), encode(g12, "PNG"))
    flt = grey.astype(np.float32) / 255.0 * 3.0 - 1.0
    flt[0, :5] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    add(Case("float32 TIFF with NaN/inf", "float.tif", IMAGE,
             check=lambda d: (check_full_range(d), check_like(grey, 0.99)(d))),
        encode(Image.fromarray(flt, mode="F"), "TIFF"))
    add(Case("float32 TIFF all NaN", "nan.tif", ERROR, r"no finite"),
        encode(Image.fromarray(np.full((64, 64), np.nan, np.float32), mode="F"), "TIFF"))
    rgb_grey = Image.fromarray(np.stack([grey] * 3, -1))
    add(Case("CMYK JPEG", "cmyk.jpeg", IMAGE,
             check=lambda d: (check_like(grey, 0.97)(d), _not_colour(d))),
        encode(rgb_grey.convert("CMYK"), "JPEG", quality=95))
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    rgba[:10, :10, 3] = 0
    add(Case("RGBA PNG", "rgba.png", IMAGE, check=check_like(grey, 0.98)), encode(rgba, "PNG"))
    add(Case("grey + alpha (LA) PNG", "la.png", IMAGE, check=check_equal(grey)),
        encode(Image.fromarray(grey).convert("LA"), "PNG"))
    add(Case("palette PNG (grey palette)", "palette.png", IMAGE,
             check=lambda d: (check_equal(grey)(d), _not_colour(d))),
        encode(rgb_grey.quantize(256, method=Image.Quantize.MAXCOVERAGE).convert("RGB").convert("L")
               .convert("P"), "PNG"))
    add(Case("1-bit PNG", "bilevel.png", IMAGE,
             check=lambda d: set(np.unique(d.pixels)) <= {0, 255} or _fail("not bilevel")),
        encode(Image.fromarray(grey).convert("1"), "PNG"))
    rng = np.random.default_rng(5)
    colour = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    add(Case("colour photograph", "holiday.png", OUT_OF_SCOPE, r"colour"), encode(colour, "PNG"))
    add(Case("uniform grey image", "flat.png", OUT_OF_SCOPE, r"uniform"),
        encode(np.full((200, 200), 128, np.uint8), "PNG"))
    add(Case("JPEG named .png", "really_jpeg.png", IMAGE, check=check_like(grey)), jpeg)
    frames = [Image.fromarray(grey), Image.fromarray(255 - grey)]
    tbuf = io.BytesIO()
    frames[0].save(tbuf, format="TIFF", save_all=True, append_images=frames[1:])
    add(Case("multi-page TIFF (first page)", "pages.tif", IMAGE, check=check_equal(grey)), tbuf.getvalue())

    # EXIF orientation -------------------------------------------------------------------------
    marker = marker_image()
    for orientation, expected in ((6, np.rot90(marker, -1)), (8, np.rot90(marker, 1)),
                                  (3, np.rot90(marker, 2))):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(Case(f"EXIF orientation {orientation} JPEG", f"exif{orientation}.jpeg", IMAGE,
                 check=check_like(expected, 0.97)),
            encode(marker, "JPEG", quality=95, exif=exif.tobytes()))
    exif = Image.Exif()
    exif[0x0112] = 99
    add(Case("EXIF orientation out of range", "exif99.jpeg", IMAGE, check=check_like(marker, 0.97)),
        encode(marker, "JPEG", quality=95, exif=exif.tobytes()))

    # DICOM ------------------------------------------------------------------------------------
    add(Case("DICOM without pixel data", "no_pixels.dcm", ERROR, r"no pixel data"),
        dicom_bytes(grey, with_pixels=False))
    add(Case("DICOM, unsupported transfer syntax (MPEG-2)", "mpeg2.dcm", ERROR,
             r"unsupported DICOM transfer syntax"),
        dicom_bytes(grey, transfer_syntax="1.2.840.10008.1.2.4.100"))
    multi = np.stack([grey, 255 - grey, grey // 2])
    add(Case("multi-frame DICOM (first frame)", "multi.dcm", IMAGE, check=check_equal(grey)),
        dicom_bytes(multi, frames=3))
    raw12 = (grey.astype(np.uint16) * 16).astype(np.uint16)  # 0..4080
    add(Case("MONOCHROME1 with window centre/width", "mono1.dcm", IMAGE,
             check=_check_mono1(raw12, centre=2048.0, width=2000.0)),
        dicom_bytes(raw12, photometric="MONOCHROME1", modality="CR", window=(2048.0, 2000.0)))
    mr = mr_small_reference()
    for name, label in (("MR_small_RLE.dcm", "RLE"), ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS"),
                        ("MR_small_jp2klossless.dcm", "JPEG 2000")):
        add(Case(f"{label} compressed DICOM (MR: decoded, then out of scope)", f"mr_{label}.dcm",
                 OUT_OF_SCOPE, r"modality MR", check=check_equal(mr)), pydicom_test_file(name))
    add(Case("JPEG baseline DICOM (colour secondary capture)", "sc_jpeg.dcm", OUT_OF_SCOPE,
             r"colour", check=lambda d: d.was_color or _fail("colour not detected")),
        pydicom_test_file("SC_rgb_jpeg_dcmtk.dcm"))
    add(Case("truncated DICOM pixel data", "mr_truncated.dcm", ERROR, r"pixel data"),
        pydicom_test_file("MR_truncated.dcm"))
    add(Case("DICOM preamble then garbage", "garbage.dcm", ERROR, r"dicom"),
        b"\0" * 128 + b"DICM" + bytes(range(256)) * 8)
    add(Case("deflated DICOM (legitimate, decoded)", "deflated.dcm", IMAGE, check=check_equal(grey)),
        deflated_dicom(grey))
    add(Case("DICOM named .jpeg", "dicom_named.jpeg", IMAGE, check=check_equal(grey)), dicom_bytes(grey))
    add(Case("DICOM without extension", "IM000001", IMAGE, check=check_equal(grey)), dicom_bytes(grey))
    add(Case("DICOM without preamble (headerless)", "headerless.dcm", IMAGE, check=check_equal(grey)),
        dicom_bytes(grey, preamble=False))

    # File names -------------------------------------------------------------------------------
    odd = os.fsdecode(b"latin1-\xe9t\xe9-\xff\xfe.png")
    add(Case("non-UTF-8 file name", odd, IMAGE, check=check_equal(grey)), png)
    add(Case("255-byte file name", "n" * 251 + ".png", IMAGE, check=check_equal(grey)), png)
    deep = "d" * 200
    long_rel = "/".join(["too_long"] + [deep] * 22) + "/x.png"
    _write_long_path(folder, long_rel, png)
    # The folder scan reports the first folder it cannot reach, so the row's path is a prefix.
    cases.append(Case("path longer than PATH_MAX", long_rel, ERROR, r"too long"))
    # Deeper than the recursion limit the batch test walks it under (see test_corpus.py);
    # each folder costs ~3 ms to delete on a disk mounted with 'discard', so not 1200.
    tree = "/".join(["deep_tree"] + ["t"] * DEEP_TREE_LEVELS)
    _write_long_path(folder, tree + "/leaf.png", png)  # pathlib/os.makedirs would recurse
    cases.append(Case(f"folder nested {DEEP_TREE_LEVELS} deep", tree + "/leaf.png", IMAGE,
                      check=check_equal(grey)))

    # Unreadable and special files ---------------------------------------------------------------
    locked = add(Case("chmod 000 file", "locked.png",
                      IMAGE if os.geteuid() == 0 else ERROR,
                      "" if os.geteuid() == 0 else r"permission denied"), png)
    os.chmod(locked, 0)
    os.symlink(folder / "does-not-exist.png", folder / "dangling.png")
    cases.append(Case("dangling symlink", "dangling.png", ERROR, r"not found"))
    os.symlink("self_loop.png", folder / "self_loop.png")
    cases.append(Case("symlink loop (file)", "self_loop.png", ERROR, r"link loop"))
    os.mkfifo(folder / "pipe.png")
    cases.append(Case("FIFO named .png", "pipe.png", ERROR, r"named pipe"))
    os.symlink("/dev/null", folder / "null.jpeg")
    cases.append(Case("symlink to /dev/null", "null.jpeg", ERROR, r"device"))
    os.symlink("/dev/zero", folder / "zero.dcm")
    cases.append(Case("symlink to /dev/zero", "zero.dcm", ERROR, r"device"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(folder / "sock.png"))
        cases.append(Case("UNIX socket named .png", "sock.png", ERROR, r"socket"))
    except OSError:  # path too long for AF_UNIX on this machine
        pass
    finally:
        sock.close()
    add(Case("folder with a symlink loop (visited once)", "loopdir/inner.png", IMAGE,
             check=check_equal(grey)), png)
    os.symlink(".", folder / "loopdir" / "again")
    os.symlink("..", folder / "loopdir" / "parent")

    # Files that change between listing and reading ------------------------------------------------
    add(Case("file deleted after listing", "vanish.png", ERROR, r"not found|vanished",
             after_listing=lambda p: p.unlink()), png)
    add(Case("file replaced by a FIFO after listing", "swap_fifo.png", ERROR, r"named pipe",
             after_listing=lambda p: (p.unlink(), os.mkfifo(p))), png)
    add(Case("file replaced by a folder after listing", "swap_dir.png", ERROR, r"folder",
             after_listing=lambda p: (p.unlink(), p.mkdir())), png)
    return folder, cases


def _write_long_path(folder: Path, rel: str, content: bytes) -> None:
    """Create a file whose absolute path exceeds PATH_MAX, walking with directory fds."""
    parts = rel.split("/")
    fd = os.open(folder, os.O_RDONLY)
    try:
        for part in parts[:-1]:
            os.mkdir(part, dir_fd=fd)
            nfd = os.open(part, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, content)
        os.close(out)
    finally:
        os.close(fd)


def remove_corpus(root: Path) -> None:
    """Delete a corpus, including the deep tree and the path longer than PATH_MAX (where
    ``shutil.rmtree`` cannot go)."""
    try:
        rmtree_iterative(root)
    except OSError:
        subprocess.run(["rm", "-rf", "--", os.fspath(root)], check=False)


def rmtree_iterative(path: Path) -> None:
    """Remove a tree with directory fds and an explicit stack (no recursion, no long paths)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and (hard == resource.RLIM_INFINITY or hard >= 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    top = os.open(path, flags)
    stack: list[tuple[int, list[str], int | None, str]] = [(top, os.listdir(top), None, "")]
    try:
        while stack:
            fd, children, parent_fd, name = stack[-1]
            if not children:
                stack.pop()
                os.close(fd)
                if parent_fd is not None:
                    os.rmdir(name, dir_fd=parent_fd)
                continue
            child = children.pop()
            try:
                cfd = os.open(child, flags, dir_fd=fd)
            except OSError:  # not a folder (file, link, fifo, socket)
                os.unlink(child, dir_fd=fd)
                continue
            stack.append((cfd, os.listdir(cfd), fd, child))
    finally:
        for fd, *_ in stack:
            os.close(fd)
    os.rmdir(path)


def _not_colour(d: DecodedImage) -> None:
    assert not d.was_color, f"grey image reported as colour ({d.colorfulness:.1f})"


def _fail(msg: str) -> None:
    raise AssertionError(msg)


def _check_mono1(raw: np.ndarray, centre: float, width: float) -> Callable[[DecodedImage], None]:
    """MONOCHROME1: low raw values are bright. Shown: 255 - linear window of the raw values;
    the model's input: 255 - the raw values scaled by their own range (no window)."""
    y = (raw.astype(np.float64) - (centre - 0.5)) / (width - 1) + 0.5
    expected = 255 - np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    lo, hi = float(raw.min()), float(raw.max())
    model = 255 - np.clip(np.rint((raw - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)

    def check(d: DecodedImage) -> None:
        assert d.display is not None
        np.testing.assert_array_equal(d.display, expected)
        # The window clips: values below the window are white, above it black.
        assert d.display[raw < centre - width / 2].min() == 255
        assert d.display[raw > centre + width / 2].max() == 0
        assert np.abs(d.pixels.astype(int) - model).max() <= 1
        assert d.pixels.min() == 0 and d.pixels.max() == 255
    return check
