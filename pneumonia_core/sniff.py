"""Name what a file is from its first bytes, for clear "unsupported file" messages, and
which of Pillow's plugins the image loader imports for it (:func:`supported_format`).

Which decoder runs is decided by the decoders themselves.
"""

from __future__ import annotations

#: Magic numbers of common non-image or unsupported files, for a helpful error message.
_KNOWN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
    (b"8BPS", "Photoshop document"),
    (b"%!PS", "PostScript document"),
    (b"\x00\x00\x01\x00", "Windows icon"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
    (b"\xff\x0a", "JPEG XL image"),
    (b"\x7fELF", "program (ELF executable)"),
    (b"MZ", "Windows program"),
    (b"{\\rtf", "RTF document"),
    (b"<?xml", "XML document"),
    (b"<svg", "SVG drawing"),
)

def sniff(data: bytes) -> str | None:
    """A human name for a known non-image signature, or None."""
    head = data[:16]
    for magic, name in _KNOWN_SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP image"
    if data[4:8] == b"ftyp":
        return "HEIF/AVIF image or video"
    stripped = data[:512].lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "HTML page"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text file"


#: Signatures of the supported formats: a file that starts like one but that Pillow cannot
#: open has a damaged header.
_SUPPORTED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)


def supported_format(data: bytes) -> str | None:
    """The supported format (``JPEG``, ``PNG``, ``BMP``, ``TIFF``) whose signature ``data``
    starts with, else None. The signatures exclude each other, and each is what Pillow's
    plugin of that format accepts, so Pillow offered that one format picks what it would
    have picked among all four."""
    for magic, name in _SUPPORTED_SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def unsupported_message(data: bytes) -> str:
    """The user-facing message for bytes that no supported decoder could open."""
    name = supported_format(data)
    if name is not None:
        return f"Corrupt {name} image: its header cannot be read"
    what = sniff(data)
    supported = "JPEG, PNG, BMP, TIFF or DICOM"
    if what is None:
        return f"Not a recognised image format (expected {supported})"
    return f"Unsupported file type: {what} (expected {supported})"
