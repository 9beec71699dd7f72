"""The refusals of a file that isn't audio, in the member's language: the file's kind is a
whole translated phrase ("ein PNG-Bild") in one whole sentence, and the verdict crosses from
the worker as a `Said` record, so a refusal FFmpeg's probe wrote is translated too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core.errors import AudioRejected
from bot.core.i18n.said import Said, said
from bot.core.media import names
from bot.core.media.inspect import inspect_audio_async
from bot.core.media.worker import MediaWorker
from bot.core.songs.forms import AttachmentRef
from bot.core.songs.message_audio import audio_files

FIXTURES = Path(__file__).parents[3] / "fixtures" / "audio"
HINT = "Send an audio file (MP3, WAV, FLAC, OGG, M4A and most others)."


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (None, f"That file is a PNG image, not audio. {HINT}"),
        ("ko", f"That file is a PNG image, not audio. {HINT}"),
        (
            "es-ES",
            "Ese archivo es una imagen PNG, no audio. Envíame un archivo de audio "
            "(MP3, WAV, FLAC, OGG, M4A y casi cualquier otro).",
        ),
        (
            "de",
            "Diese Datei ist ein PNG-Bild, kein Audio. Schick mir eine Audiodatei "
            "(MP3, WAV, FLAC, OGG, M4A und fast jede andere).",
        ),
        ("ja", "そのファイルは PNG 画像 で、音声ではありません。"),
    ],
)
def test_a_plainly_not_audio_file_is_refused_in_the_members_language(
    locale: str | None, expected: str
) -> None:
    refused = names.plainly_not_audio("cover.png", "image/png")
    assert refused is not None
    assert refused.in_(locale).startswith(expected)


@pytest.mark.parametrize(
    ("ext", "mime", "english", "french"),
    [
        ("pdf", "application/pdf", "a PDF document", "un document PDF"),
        ("svg", "image/svg+xml", "an SVG image", "une image SVG"),
        ("jxl", "image/jxl", "a JXL image", "une image JXL"),  # not named: its format
        ("xyz", "application/x-xyz", "an XYZ file", "un fichier XYZ"),
        ("woff", "font/woff", "a font", "une police"),
    ],
)
def test_a_kind_is_one_translated_phrase(ext: str, mime: str, english: str, french: str) -> None:
    kind = names.describe_kind(ext, mime)
    assert str(kind) == english
    assert kind.in_("fr") == french


def test_text_has_its_own_sentence() -> None:
    refused = names.plainly_not_audio("notes", "text/x-weird")
    assert refused is not None
    assert str(refused) == f"That file is text, not audio. {HINT}"
    assert refused.in_("pt-BR").startswith("Esse arquivo é texto, não áudio. Me mande")


def test_a_said_record_survives_json() -> None:
    import json

    sentence = names.not_audio(names.describe_kind("pdf", "application/pdf"))
    again = Said.of_record(json.loads(json.dumps(sentence.record())))
    assert again == sentence
    assert again.in_("fr").startswith("Ce fichier est un document PDF, pas de l'audio.")
    counted = said("{count} left", count=3)
    assert Said.of_record(json.loads(json.dumps(counted.record()))) == counted


def test_a_message_with_no_audio_says_so_in_the_members_language() -> None:
    files = [AttachmentRef(url="https://cdn/x", filename=f"{n}.pdf", size=9) for n in (1, 2)]
    with pytest.raises(AudioRejected) as none:
        audio_files(files)
    assert str(none.value) == (
        "None of the 2 files on that message is audio, so I have nothing to use."
    )
    assert none.value.message_in("es-ES").startswith("Ninguno de los 2 archivos")
    with pytest.raises(AudioRejected) as empty:
        audio_files([])
    assert (
        empty.value.message_in("de")
        == "Diese Nachricht hat keine Audiodatei, die ich verwenden kann."
    )


@pytest.mark.parametrize(
    ("fixture", "english", "german"),
    [
        (
            "image.png",
            "That file is a PNG image, not audio.",
            "Diese Datei ist ein PNG-Bild, kein Audio.",
        ),
        (
            "document.pdf",
            "That file is a PDF document, not audio.",
            "Diese Datei ist ein PDF-Dokument, kein Audio.",
        ),
    ],
)
async def test_the_workers_verdict_is_said_in_the_members_language(
    worker: MediaWorker, tmp_path: Path, fixture: str, english: str, german: str
) -> None:
    # Named .mp3 so that nothing before FFmpeg refuses it: the probe in the worker does.
    path = Path(shutil.copy(FIXTURES / fixture, tmp_path / "song.mp3"))
    with pytest.raises(AudioRejected) as refused:
        await inspect_audio_async(path, max_bytes=25 * 1024 * 1024, member=1, worker=worker)
    assert str(refused.value).startswith(english)
    assert refused.value.message_in("de").startswith(german)
    assert refused.value.message_in("de").endswith(
        "(MP3, WAV, FLAC, OGG, M4A und fast jede andere)."
    )
