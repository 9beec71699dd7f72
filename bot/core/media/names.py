"""How refusals name a file that isn't audio we can use: "a PDF document", "text".

Each kind is a phrase with its article ("a PDF document"), translated whole ("un documento
PDF", "ein PDF-Dokument"), and the refusal is one sentence with it as `{kind}`: the article
agrees with the noun in every language, and nothing is joined. The phrases travel from the
media worker as `Said` records (`Said.record`), so they are said in the member's language.

Also the command-time verdict on an attachment that is plainly not audio by what Discord says
of it (its `content_type`) and by its name, so that a PNG is refused before the lyrics form
opens instead of after the member typed their lyrics.
"""

from __future__ import annotations

import mimetypes
from typing import Final

from bot.core.i18n import N_
from bot.core.i18n.said import Said, said

ACCEPTED_FORMATS: Final = "MP3, WAV, FLAC, OGG, M4A and most others"

# By filetype's extension. Containers that may hold only sound (Matroska, WebM, ASF, MP4)
# are named as files, not videos: when FFmpeg can't open one, nobody knows what it held.
_KIND_NAMES: Final = {
    "jpg": N_("a JPEG image"),
    "png": N_("a PNG image"),
    "apng": N_("a PNG image"),
    "gif": N_("a GIF image"),
    "webp": N_("a WebP image"),
    "heic": N_("a HEIC image"),
    "avif": N_("an AVIF image"),
    "ico": N_("an icon"),
    "psd": N_("a Photoshop file"),
    "pdf": N_("a PDF document"),
    "zip": N_("a ZIP archive"),
    "rar": N_("a RAR archive"),
    "7z": N_("a 7-Zip archive"),
    "gz": N_("a gzip archive"),
    "tar": N_("a TAR archive"),
    "exe": N_("a Windows program"),
    "elf": N_("a program"),
    "doc": N_("a Word document"),
    "docx": N_("a Word document"),
    "odt": N_("a text document"),
    "xls": N_("a spreadsheet"),
    "xlsx": N_("a spreadsheet"),
    "ods": N_("a spreadsheet"),
    "ppt": N_("a presentation"),
    "pptx": N_("a presentation"),
    "odp": N_("a presentation"),
    "epub": N_("an e-book"),
    "sqlite": N_("a database"),
    "mkv": N_("a Matroska file"),
    "webm": N_("a WebM file"),
    "wmv": N_("a Windows Media file"),
    "avi": N_("an AVI file"),
    "flv": N_("an FLV file"),
    "mpg": N_("an MPEG file"),
    "mp4": N_("an MP4 file"),
    "m4a": N_("an M4A file"),
    "m4v": N_("an MP4 file"),
    "mov": N_("a QuickTime file"),
    "midi": N_("a MIDI file"),
    "aiff": N_("an AIFF file"),
    "amr": N_("an AMR file"),
    "jpeg": N_("a JPEG image"),
    "bmp": N_("a BMP image"),
    "tif": N_("a TIFF image"),
    "tiff": N_("a TIFF image"),
    "svg": N_("an SVG image"),
    "txt": N_("a text file"),
    "md": N_("a text file"),
    "rtf": N_("a text document"),
    "csv": N_("a spreadsheet"),
    "json": N_("a JSON file"),
    "xml": N_("an XML file"),
    "html": N_("a web page"),
    "htm": N_("a web page"),
    "msi": N_("a Windows installer"),
    "apk": N_("an Android app"),
    "dmg": N_("a disk image"),
    "iso": N_("a disk image"),
    "jar": N_("a Java program"),
    "bz2": N_("a bzip2 archive"),
    "xz": N_("an xz archive"),
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


HINT: Final = N_("Send an audio file (MP3, WAV, FLAC, OGG, M4A and most others).")
NOT_AUDIO: Final = N_("That file is {kind}, not audio. {hint}")
TEXT_NOT_AUDIO: Final = N_("That file is text, not audio. {hint}")
# A kind filetype knows and `_KIND_NAMES` doesn't: its format in capitals. English picks the
# article by how the letters are read out ("an SVG", "a PNG"); each is one whole phrase.
_IMAGE_OF: Final = (N_("a {format} image"), N_("an {format} image"))
_FILE_OF: Final = (N_("a {format} file"), N_("an {format} file"))
_FONT: Final = N_("a font")


def send_hint() -> str:
    """The hint after a refusal of a file, in English (`HINT`; `said(HINT)` to translate)."""
    return HINT


def not_audio(kind: Said | None) -> Said:
    """The refusal of a file of `kind` (`describe_kind`), or of text (None), with the hint."""
    if kind is None:
        return said(TEXT_NOT_AUDIO, hint=said(HINT))
    return said(NOT_AUDIO, kind=kind, hint=said(HINT))


def describe_kind(ext: str, mime: str) -> Said:
    """A file kind for people, from filetype's extension and MIME type: a whole phrase
    with its article ("a PDF document"), said in the reader's language."""
    if ext in _KIND_NAMES:
        return said(_KIND_NAMES[ext])
    label = ext.upper()
    an = label[:1] in set("AEFHILMNORSX8")  # "an SVG", "a PNG"
    if mime.startswith("image/"):
        return said(_IMAGE_OF[an], format=label)
    if mime.startswith("font/") or mime.startswith("application/font"):
        return said(_FONT)
    return said(_FILE_OF[an], format=label)


def plainly_not_audio(filename: str, content_type: str | None) -> Said | None:
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
        return not_audio(None)
    return not_audio(describe_kind(ext, mime))


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
