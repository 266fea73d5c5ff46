"""File-name parsing and layout detection of emotion_models.corpora."""

from pathlib import Path

import pytest

from emotion_models.corpora import CorpusItem, parse_name, walk_corpus
from emotion_models.labels import UnknownLabelError


@pytest.mark.parametrize(
    ("name", "label", "speaker", "corpus"),
    [
        ("03a01Fa.wav", "happy", "03", "emodb"),
        ("16b10Wb.wav", "angry", "16", "emodb"),
        ("08a02Ec.wav", "disgust", "08", "emodb"),
        ("13a05Lb.wav", None, "13", "emodb"),  # boredom: outside our seven
        ("EB0_surprised_64.ogg", "surprise", "EB0", "nemo"),
        ("WR0_sadness_1.ogg", "sad", "WR0", "nemo"),
        ("03-01-06-01-02-01-12.wav", "fear", "12", "ravdess"),
        ("03-01-02-02-01-01-07.wav", "neutral", "07", "ravdess"),  # calm -> neutral via the alias table
        ("01-01-08-01-01-01-24.mp4", "surprise", "24", "ravdess"),
        ("1001_DFA_ANG_XX.wav", "angry", "1001", "cremad"),
        ("1091_TIE_DIS_HI.flac", "disgust", "1091", "cremad"),
    ],
)
def test_parse_corpus_names(name: str, label: str | None, speaker: str, corpus: str) -> None:
    item = parse_name(Path("x") / name)
    assert item is not None
    assert (item.label, item.speaker, item.corpus) == (label, speaker, corpus)
    assert item.speaker_key == f"{corpus}/{speaker}"


@pytest.mark.parametrize(
    "name",
    ["readme.wav", "03a01Xa.wav", "EB0_boredom_1.ogg", "03-01-09-01-01-01-01.wav", "1001_DFA_CON_XX.wav"],
)
def test_unknown_names_are_not_guessed(name: str) -> None:
    assert parse_name(Path(name)) is None


def test_walk_named_corpus_counts_skips(tmp_path: Path) -> None:
    for name in ["08a01Wa.wav", "08a01La.wav", "notes.wav", "sub/1001_DFA_NEU_XX.wav", "ignored.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    items, skipped = walk_corpus(tmp_path)
    assert [(i.label, i.corpus) for i in items] == [("angry", "emodb"), ("neutral", "cremad")]
    assert skipped == {"no_label:boredom": 1, "unrecognised_name": 1}


def test_walk_label_folders(tmp_path: Path) -> None:
    for name in ["Anger/a.wav", "happiness/03a01Fa.wav", "contempt/c.flac", "angy/typo.wav", "neutral/x.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    items, skipped = walk_corpus(tmp_path)
    assert items == [
        CorpusItem(tmp_path / "Anger/a.wav", "angry", "unknown", "folders", "Anger"),
        CorpusItem(tmp_path / "happiness/03a01Fa.wav", "happy", "03", "emodb", "happiness"),
    ]
    assert skipped == {"no_label:contempt": 1, "unknown_label_folder:angy": 1}


def test_walk_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        walk_corpus(tmp_path / "nope")


def test_label_alias_table_is_reused() -> None:
    with pytest.raises(UnknownLabelError):
        from emotion_models.labels import canonical_label

        canonical_label("angy")
