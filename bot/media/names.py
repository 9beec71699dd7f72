"""How refusals name a file that isn't audio we can use: "a PDF document", "text"."""

from __future__ import annotations

from typing import Final

ACCEPTED_FORMATS: Final = "MP3, WAV, FLAC, OGG, M4A and most others"

# By filetype's extension. Containers that may hold only sound (Matroska, WebM, ASF, MP4)
# are named as files, not videos: when FFmpeg can't open one, nobody knows what it held.
_KIND_NAMES: Final = {
    "jpg": "a JPEG image",
    "png": "a PNG image",
    "apng": "a PNG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "heic": "a HEIC image",
    "avif": "an AVIF image",
    "ico": "an icon",
    "psd": "a Photoshop file",
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "rar": "a RAR archive",
    "7z": "a 7-Zip archive",
    "gz": "a gzip archive",
    "tar": "a TAR archive",
    "exe": "a Windows program",
    "elf": "a program",
    "doc": "a Word document",
    "docx": "a Word document",
    "odt": "a text document",
    "xls": "a spreadsheet",
    "xlsx": "a spreadsheet",
    "ods": "a spreadsheet",
    "ppt": "a presentation",
    "pptx": "a presentation",
    "odp": "a presentation",
    "epub": "an e-book",
    "sqlite": "a database",
    "mkv": "a Matroska file",
    "webm": "a WebM file",
    "wmv": "a Windows Media file",
    "avi": "an AVI file",
    "flv": "an FLV file",
    "mpg": "an MPEG file",
    "mp4": "an MP4 file",
    "m4a": "an M4A file",
    "m4v": "an MP4 file",
    "mov": "a QuickTime file",
    "midi": "a MIDI file",
    "aiff": "an AIFF file",
    "amr": "an AMR file",
}


def send_hint() -> str:
    return f"Send an audio file ({ACCEPTED_FORMATS})."


def describe_kind(ext: str, mime: str) -> str:
    """A file kind for people, from filetype's extension and MIME type."""
    if ext in _KIND_NAMES:
        return _KIND_NAMES[ext]
    label = ext.upper()
    # The article follows how the letters are read out: "an SVG", "a PNG".
    article = "an" if label[:1] in set("AEFHILMNORSX8") else "a"
    if mime.startswith("image/"):
        return f"{article} {label} image"
    if mime.startswith("font/") or mime.startswith("application/font"):
        return "a font"
    return f"{article} {label} file"


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
