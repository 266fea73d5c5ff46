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
        ("a5-01-01-01-01.ogg", "angry", "01", "ased"),
        ("f2-07-02-02-21.ogg", "fear", "21", "ased"),  # GG field wrong in the source: never used
        ("h3-03-01-02-40.ogg", "happy", "40", "ased"),
        ("n1-02-02-01-65.ogg", "neutral", "65", "ased"),
        ("S4-04-02-01-29.ogg", "sad", "29", "ased"),  # the one upper-case name
        ("rab-f1-b1.ogg", "angry", "f1", "emovo"),
        ("dis-m3-n5.ogg", "disgust", "m3", "emovo"),
        ("pau-f2-l4.ogg", "fear", "f2", "emovo"),
        ("gio-m1-d2.ogg", "happy", "m1", "emovo"),
        ("neu-f3-b3.ogg", "neutral", "f3", "emovo"),
        ("tri-m2-l1.ogg", "sad", "m2", "emovo"),
        ("sor-f1-n1.ogg", "surprise", "f1", "emovo"),
    ],
)
def test_parse_corpus_names(name: str, label: str | None, speaker: str, corpus: str) -> None:
    item = parse_name(Path("x") / name)
    assert item is not None
    assert (item.label, item.speaker, item.corpus) == (label, speaker, corpus)
    assert item.speaker_key == f"{corpus}/{speaker}"


@pytest.mark.parametrize(
    "name",
    [
        "readme.wav",
        "03a01Xa.wav",
        "EB0_boredom_1.ogg",
        "03-01-09-01-01-01-01.wav",
        "1001_DFA_CON_XX.wav",
        "a1-01-01-01-01.ogg",  # ASED: letter and folder number must agree (a5)
        "n1-08-01-01-01.ogg",  # ASED has sentences 01-07 only
        "n1-01-03-01-01.ogg",  # and repetitions 01-02
        "xyz-f1-b1.ogg",  # EMOVO: unknown emotion code
        "rab-f4-b1.ogg",  # EMOVO: speakers f1-f3, m1-m3
    ],
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


def test_ased_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    names = ["h3-01-01-02-08", "h3-01-02-02-08", "s4-03-01-01-23", "s4-03-02-01-23", "a5-01-01-01-01"]
    names += ["n1-07-01-02-53", "n1-07-02-02-53", "a5-07-01-02-63", "a5-07-02-02-63"]
    for name in names:
        (tmp_path / f"{name}.ogg").write_bytes(b"")
    items, skipped = walk_corpus(tmp_path)
    assert skipped == {"duplicate": 4}
    kept = {i.path.stem for i in items}
    assert kept == {"h3-01-01-02-08", "s4-03-01-01-23", "a5-01-01-01-01", "n1-07-01-02-53", "a5-07-01-02-63"}
    assert {i.corpus for i in items} == {"ased"}
    # The second file of a pair is dropped in a <label>/ layout too.
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "h3-01-02-02-08.ogg").write_bytes(b"")
    assert walk_corpus(tmp_path)[1] == {"duplicate": 1}


def test_walk_emovo_layout(tmp_path: Path) -> None:
    codes = ["rab", "dis", "pau", "gio", "neu", "tri", "sor"]
    for code in codes:
        for speaker in ("f1", "m2"):
            (tmp_path / f"{code}-{speaker}-b1.ogg").write_bytes(b"")
    items, skipped = walk_corpus(tmp_path)
    assert skipped == {}
    assert len(items) == 14 and {i.speaker_key for i in items} == {"emovo/f1", "emovo/m2"}
    assert sorted({i.label for i in items}) == sorted(
        ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    )
