"""A generated corpus of inputs that are NOT frontal chest radiographs, for measuring the
out-of-scope guard (:mod:`pneumonia_core.scope`).

Everything comes from packages installed with the project (no network): natural photographs
bundled in scikit-image's wheel (``skimage/data/*.png``), CT/MR/US/NM sample files bundled in
pydicom's wheel, and images drawn here with numpy and Pillow (noise, documents, blank frames,
gradients, checkerboards, simple non-chest shapes). Generation is seeded and deterministic.

Use :func:`build_corpus` to write it to a folder; each item records its category so that
results can be broken down (see :mod:`converter.scope_eval`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

#: Colour photographs shipped in the scikit-image wheel (no download needed).
COLOUR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "retina",
                 "ihc", "hubble_deep_field", "color", "logo")
#: Grey photographs and textures shipped in the scikit-image wheel.
GREY_PHOTOS = ("camera", "coins", "moon", "brick", "grass", "gravel", "cell", "clock_motion",
               "text", "page", "horse", "phantom", "microaneurysms")
#: pydicom's bundled test files that hold decodable, non-chest images (CT, MR, US, NM, SEG,
#: secondary captures). Several encodings of one MR slice are kept: a reader meets all of them.
PYDICOM_FILES = ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "MR_small.dcm",
                 "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "examples_overlay.dcm",
                 "ExplVR_BigEnd.dcm", "examples_jpeg2k.dcm", "examples_palette.dcm",
                 "examples_rgb_color.dcm", "examples_ybr_color.dcm", "JPEG2000.dcm",
                 "JPGExtended.dcm", "liver_1frame.dcm", "image_dfl.dcm", "SC_rgb_rle.dcm",
                 "SC_ybr_full_422_uncompressed.dcm", "GDCMJ2K_TextGBR.dcm")
#: DICOM tags for generated files: (Modality, BodyPartExamined) pairs that are not chest films.
DICOM_TAGS = (("CT", "CHEST"), ("MR", "BRAIN"), ("US", "ABDOMEN"), ("NM", "WHOLEBODY"),
              ("MG", "BREAST"), ("PT", "CHEST"), ("DX", "HAND"), ("CR", "KNEE"), ("DX", "SKULL"),
              ("CR", "PELVIS"), ("XA", "HEART"), ("ES", ""))

CATEGORIES = ("photo_colour", "photo_grey", "dicom_sample", "dicom_tagged", "slice_untagged",
              "noise", "document", "blank", "pattern", "shape")


@dataclass
class CorpusItem:
    path: str
    category: str
    source: str


def skimage_data_dir() -> Path:
    """The folder of images bundled in the scikit-image wheel (read with Pillow, no import)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed; install the 'dev' or 'train' extra")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def pydicom_data_dir() -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    if path is None:
        raise RuntimeError("pydicom's bundled test files are missing")
    return Path(path).parent


def _photo(name: str) -> Image.Image:
    folder = skimage_data_dir()
    for suffix in (".png", ".jpg"):
        p = folder / f"{name}{suffix}"
        if p.exists():
            im = Image.open(p)
            im.load()
            return im
    raise FileNotFoundError(f"{name} is not bundled in scikit-image ({folder})")


def _crop_rescale(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random crop of 40-80% of each side, rescaled to a random size of 200-900 px."""
    w, h = im.size
    cw, ch = int(w * rng.uniform(0.4, 0.8)), int(h * rng.uniform(0.4, 0.8))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    side = int(rng.integers(200, 900))
    aspect = rng.uniform(0.75, 1.33)
    return im.crop((x, y, x + cw, y + ch)).resize((side, max(32, int(side * aspect))))


def _noise_images(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    out = []
    for i in range(4):
        h, w = int(rng.integers(200, 800)), int(rng.integers(200, 800))
        out.append((f"uniform_{i}", rng.integers(0, 256, (h, w), dtype=np.uint8)))
        g = rng.normal(rng.uniform(60, 190), rng.uniform(10, 60), (h, w))
        out.append((f"gaussian_{i}", np.clip(g, 0, 255).astype(np.uint8)))
        sp = np.full((h, w), int(rng.integers(0, 256)), np.uint8)
        mask = rng.random((h, w))
        frac = rng.uniform(0.02, 0.3)
        sp[mask < frac / 2] = 0
        sp[mask > 1 - frac / 2] = 255
        out.append((f"salt_pepper_{i}", sp))
        # smooth ("cloudy") noise: low-resolution noise blown up bilinearly
        small = rng.integers(0, 256, (int(rng.integers(3, 12)), int(rng.integers(3, 12))), dtype=np.uint8)
        cloud = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        out.append((f"smooth_{i}", np.asarray(cloud)))
        out.append((f"colour_{i}", rng.integers(0, 256, (h // 2, w // 2, 3), dtype=np.uint8)))
    return out


_WORDS = ("patient report summary findings impression the of and to in is was with for normal "
          "date name signature invoice total amount quantity page section table results").split()


def _text_line(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), n)).capitalize()


def _document_images(rng: np.random.Generator) -> list[tuple[str, Image.Image]]:
    out = []
    for i in range(14):
        w, h = (850, 1100) if i % 2 == 0 else (1100, 850)
        page = Image.new("L", (w, h), int(rng.integers(225, 256)))
        draw = ImageDraw.Draw(page)
        size = int(rng.integers(14, 30))
        font = ImageFont.load_default(size=size)
        ink = int(rng.integers(0, 60))
        kind = ("text", "form", "table")[i % 3]
        y = 60
        if kind == "text":
            draw.text((60, 30), _text_line(rng, 3).upper(), fill=ink, font=ImageFont.load_default(size=size + 10))
            y = 90
            while y < h - 60:
                draw.text((60, y), _text_line(rng, int(rng.integers(5, 12))), fill=ink, font=font)
                y += int(size * 1.5)
        elif kind == "form":
            while y < h - 80:
                draw.text((60, y), _text_line(rng, 2) + ":", fill=ink, font=font)
                draw.line((w // 2, y + size, w - 60, y + size), fill=ink, width=2)
                if rng.random() < 0.3:
                    draw.rectangle((w // 2 - 40, y, w // 2 - 40 + size, y + size), outline=ink, width=2)
                y += int(size * 2.5)
        else:
            rows, cols = int(rng.integers(8, 25)), int(rng.integers(3, 7))
            cw, rh = (w - 120) // cols, min((h - 120) // rows, size * 2)
            for r in range(rows + 1):
                draw.line((60, 60 + r * rh, 60 + cols * cw, 60 + r * rh), fill=ink, width=1 + (r == 1))
            for c in range(cols + 1):
                draw.line((60 + c * cw, 60, 60 + c * cw, 60 + rows * rh), fill=ink, width=1)
            for r in range(rows):
                for c in range(cols):
                    cell = _text_line(rng, 1) if r == 0 or c == 0 else f"{rng.uniform(0, 1000):.1f}"
                    draw.text((66 + c * cw, 63 + r * rh), cell, fill=ink, font=font)
        if i % 4 == 3:  # a scanned page: slightly rotated, grey, noisy, JPEG later
            page = page.rotate(float(rng.uniform(-3, 3)), fillcolor=200)
            arr = np.asarray(page, np.float64) * 0.9 + rng.normal(0, 6, (page.height, page.width))
            page = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        out.append((f"{kind}_{i}", page))
    return out


def _blank_images(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    out = []
    for i, level in enumerate((0, 255, 128, 30, 220)):
        out.append((f"uniform_{level}", np.full((300 + 50 * i, 400), level, np.uint8)))
    for i in range(5):
        base = rng.uniform(20, 235)
        arr = base + rng.normal(0, rng.uniform(0.5, 4), (512, 512))
        out.append((f"near_uniform_{i}", np.clip(arr, 0, 255).astype(np.uint8)))
    return out


def _pattern_images(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    out = []
    yy, xx = np.mgrid[0:400, 0:400] / 400.0
    out += [("gradient_h", (xx * 255).astype(np.uint8)), ("gradient_v", (yy * 255).astype(np.uint8)),
            ("gradient_diag", ((xx + yy) * 127.5).astype(np.uint8)),
            ("gradient_radial", np.clip(np.hypot(xx - 0.5, yy - 0.5) * 360, 0, 255).astype(np.uint8)),
            ("gradient_radial_inv", 255 - np.clip(np.hypot(xx - .5, yy - .5) * 360, 0, 255).astype(np.uint8))]
    for n in (2, 4, 8, 16, 32):
        board = ((np.floor(xx * n) + np.floor(yy * n)) % 2 * 255).astype(np.uint8)
        out.append((f"checker_{n}", board))
    for period in (5, 17, 60):
        out.append((f"stripes_{period}", ((np.sin(xx * 400 * 2 * np.pi / period) + 1) * 127.5).astype(np.uint8)))
    out.append(("sine_grid", ((np.sin(xx * 40) * np.sin(yy * 40) + 1) * 127.5).astype(np.uint8)))
    return out


def _shape_images(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Simple radiograph-like, non-chest pictures: bright shapes on a dark background."""
    out = []
    for i in range(8):
        im = Image.new("L", (400, 500), int(rng.integers(0, 40)))
        draw = ImageDraw.Draw(im)
        kind = ("bone", "disc", "hand", "rings")[i % 4]
        if kind == "bone":
            draw.rounded_rectangle((170, 60, 230, 440), radius=25, fill=int(rng.integers(150, 230)))
            draw.ellipse((140, 30, 260, 120), fill=220)
            draw.ellipse((140, 390, 260, 480), fill=220)
        elif kind == "disc":
            r = int(rng.integers(80, 180))
            draw.ellipse((200 - r, 250 - r, 200 + r, 250 + r), fill=int(rng.integers(100, 200)))
        elif kind == "hand":
            draw.rounded_rectangle((110, 260, 290, 470), radius=30, fill=170)
            for k in range(5):
                x = 110 + k * 42
                draw.rounded_rectangle((x, 60 + 20 * abs(k - 2), x + 30, 300), radius=14, fill=190)
        else:
            for r in range(200, 10, -30):
                draw.ellipse((200 - r, 250 - r, 200 + r, 250 + r), outline=200, width=8)
        arr = np.asarray(im, np.float64) + rng.normal(0, 8, (500, 400))
        out.append((f"{kind}_{i}", np.clip(arr, 0, 255).astype(np.uint8)))
    return out


def _write_dicom(path: Path, pixels: np.ndarray, modality: str, body: str) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path.name)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    if body:
        ds.BodyPartExamined = body
    ds.PatientName = "OOD^CORPUS"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = (pixels.astype(np.uint16) * 16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def build_corpus(out_dir: str | os.PathLike[str], seed: int = 0) -> list[CorpusItem]:
    """Write the corpus into ``out_dir`` (created) and return its items; also writes
    ``manifest.json``. The same seed always gives the same files."""
    import shutil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items: list[CorpusItem] = []

    def save(category: str, name: str, image: Image.Image | np.ndarray, source: str, fmt: str = "png") -> None:
        folder = out / category
        folder.mkdir(exist_ok=True)
        im = Image.fromarray(image) if isinstance(image, np.ndarray) else image
        if fmt == "jpeg" and im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        path = folder / f"{name}.{fmt}"
        im.save(path, **({"quality": 90} if fmt == "jpeg" else {}))
        items.append(CorpusItem(str(path), category, source))

    for name in COLOUR_PHOTOS:
        im = _photo(name)
        save("photo_colour", name, im, f"skimage:{name}", "jpeg" if name != "logo" else "png")
        save("photo_colour", f"{name}_crop", _crop_rescale(im.convert("RGB"), rng), f"skimage:{name}", "jpeg")
        save("photo_grey", f"{name}_grey", im.convert("L"), f"skimage:{name}", "jpeg")
        save("photo_grey", f"{name}_grey_crop", _crop_rescale(im.convert("L"), rng), f"skimage:{name}", "png")
    for name in GREY_PHOTOS:
        im = _photo(name).convert("L")
        save("photo_grey", name, im, f"skimage:{name}", "png")
        save("photo_grey", f"{name}_crop", _crop_rescale(im, rng), f"skimage:{name}", "jpeg")

    dcm_dir = pydicom_data_dir()
    (out / "dicom_sample").mkdir(exist_ok=True)
    (out / "slice_untagged").mkdir(exist_ok=True)
    for name in PYDICOM_FILES:
        src = dcm_dir / name
        if not src.exists():
            log.warning("pydicom sample %s missing; skipped", name)
            continue
        dst = out / "dicom_sample" / name
        shutil.copyfile(src, dst)
        items.append(CorpusItem(str(dst), "dicom_sample", f"pydicom:{name}"))

    from pneumonia_core.imageio import ImageLoadError, decode_bytes

    slices = []
    for name in ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "MR_small.dcm",
                 "examples_overlay.dcm", "liver_1frame.dcm", "image_dfl.dcm", "JPEG2000.dcm"):
        try:
            slices.append((name, decode_bytes((dcm_dir / name).read_bytes()).pixels))
        except (ImageLoadError, OSError) as exc:
            log.warning("cannot decode %s for the untagged slices: %s", name, exc)
    for name, px in slices:  # the same slices exported as plain PNG/JPEG: no tags to help
        stem = name.removesuffix(".dcm")
        save("slice_untagged", stem, px, f"pydicom:{name} pixels", "png")
        big = Image.fromarray(px).resize((512, 512), Image.Resampling.BILINEAR)
        save("slice_untagged", f"{stem}_512", big, f"pydicom:{name} pixels", "jpeg")

    tagged_sources = [p for _, p in slices] + [np.asarray(_photo(n).convert("L")) for n in ("camera", "moon")]
    (out / "dicom_tagged").mkdir(exist_ok=True)
    for i, (modality, body) in enumerate(DICOM_TAGS):
        px = tagged_sources[i % len(tagged_sources)]
        path = out / "dicom_tagged" / f"{modality}_{body or 'none'}_{i}.dcm"
        _write_dicom(path, px, modality, body)
        items.append(CorpusItem(str(path), "dicom_tagged", f"generated {modality}/{body}"))

    for name, arr in _noise_images(rng):
        save("noise", name, arr, "numpy noise", "png")
    for name, page in _document_images(rng):
        save("document", name, page, "Pillow text", "jpeg" if name.endswith(("3", "7", "11")) else "png")
    for name, arr in _blank_images(rng):
        save("blank", name, arr, "numpy", "png")
    for name, arr in _pattern_images(rng):
        save("pattern", name, arr, "numpy", "png")
    for name, arr in _shape_images(rng):
        save("shape", name, arr, "Pillow shapes", "png")

    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"seed": seed, "items": [asdict(i) for i in items]}, indent=1) + "\n")
    log.info("wrote %d out-of-scope corpus items to %s", len(items), out)
    return items
