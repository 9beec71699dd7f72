"""How refusals name a file that isn't audio we can use: "a PDF document", "text".

Also the command-time verdict on an attachment that is plainly not audio by what Discord says
of it (its `content_type`) and by its name, so that a PNG is refused before the lyrics form
opens instead of after the member typed their lyrics.
"""

from __future__ import annotations

import mimetypes
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
    "jpeg": "a JPEG image",
    "bmp": "a BMP image",
    "tif": "a TIFF image",
    "tiff": "a TIFF image",
    "svg": "an SVG image",
    "txt": "a text file",
    "md": "a text file",
    "rtf": "a text document",
    "csv": "a spreadsheet",
    "json": "a JSON file",
    "xml": "an XML file",
    "html": "a web page",
    "htm": "a web page",
    "msi": "a Windows installer",
    "apk": "an Android app",
    "dmg": "a disk image",
    "iso": "a disk image",
    "jar": "a Java program",
    "bz2": "a bzip2 archive",
    "xz": "an xz archive",
}

# Names that say "not audio" plainly. Containers that may carry sound (mp4, webm, mkv, mov,
# avi...) are not here: FFmpeg judges those, and a video's sound track is converted.
_NOT_AUDIO_EXTENSIONS: Final = frozenset(
    {
        *("jpg", "jpeg", "png", "apng", "gif", "webp", "heic", "heif", "avif", "bmp", "tif"),
        *("tiff", "ico", "svg", "psd", "pdf", "txt", "md", "rtf", "csv", "json", "xml"),
        *("html", "htm", "doc", "docx", "odt", "xls", "xlsx", "ods", "ppt", "pptx", "odp"),
        *("epub", "zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "exe", "msi", "dll"),
        *("apk", "dmg", "iso", "jar", "bat", "sh", "py", "js"),
    }
)
# Names that say "may have sound in it": they outweigh a content type that says otherwise.
_AUDIO_EXTENSIONS: Final = frozenset(
    {
        *("mp3", "wav", "wave", "flac", "ogg", "oga", "opus", "m4a", "m4b", "aac", "aif"),
        *("aiff", "aifc", "wma", "caf", "ac3", "eac3", "wv", "ape", "tta", "mpc", "dsf"),
        *("dff", "mp2", "amr", "mka", "mp4", "m4v", "webm", "mkv", "mov", "avi", "wmv"),
        *("flv", "mpg", "mpeg", "ts", "3gp", "3g2", "asf", "rm", "ra", "mid", "midi"),
    }
)
_NOT_AUDIO_TYPES: Final = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/x-zip-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/x-7z-compressed",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-executable",
        "application/x-sharedlib",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/x-apple-diskimage",
        "application/x-iso9660-image",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/epub+zip",
        "application/json",
        "application/xml",
        "application/javascript",
        "application/rtf",
        "application/x-sh",
    }
)
# Prefixes of whole families of documents (Office Open XML, OpenDocument).
_NOT_AUDIO_TYPE_PREFIXES: Final = (
    "image/",
    "text/",
    "font/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)


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


def plainly_not_audio(filename: str, content_type: str | None) -> str | None:
    """The refusal for an attachment whose type and name plainly say it isn't audio, or None.

    Only plain cases are refused: something says "image", "PDF", "text", "archive" or
    "program", and nothing (neither the type nor the name) says audio or video. Anything
    else, a video included (its sound track is used), goes to FFmpeg, which has the last word.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if mime.startswith(("audio/", "video/")) or mime in ("application/ogg", "application/mp4"):
        return None
    if ext in _AUDIO_EXTENSIONS:
        return None
    mime_says_no = mime in _NOT_AUDIO_TYPES or mime.startswith(_NOT_AUDIO_TYPE_PREFIXES)
    if not mime_says_no and ext not in _NOT_AUDIO_EXTENSIONS:
        return None
    if ext not in _NOT_AUDIO_EXTENSIONS:  # the name says nothing: name it from its type
        guessed = (
            mimetypes.guess_extension(mime, strict=False)
            or f".{mime.rsplit('/', 1)[-1].removeprefix('x-')}"
        )
        ext = guessed.lstrip(".")
    if ext not in _KIND_NAMES and mime.startswith("text/"):
        return f"That file is text, not audio. {send_hint()}"
    return f"That file is {describe_kind(ext, mime)}, not audio. {send_hint()}"


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
