"""Find labelled media in a folder: EmoDB, nEMO, ASED, EMOVO, RAVDESS, CREMA-D names or `<label>/<file>`.

Every reader (voice training, voice/face eval) goes through `walk_corpus`, so a corpus is recognised
the same way everywhere. Labels come out canonical (`emotion_models.labels.canonical_label`); items
whose class has no place in our label set (EmoDB boredom, contempt) keep `label=None` and are counted
as skipped by `walk_corpus`.

`speaker` is the corpus' own speaker id ("08", "EB0", "01", "f1", "1001"); ids of different corpora
can collide, so `CorpusItem.speaker_key` ("emodb/08") is the one to group by.

ASED v1 holds four byte-identical pairs (repetition 2 = repetition 1 of the same speaker and
sentence): the second file of each is skipped as `duplicate`, so a copy can never sit in a test fold
while its twin trains.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from emotion_models.labels import LABEL_ALIASES, canonical_label

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".flv")

FOLDER_CORPUS = "folders"
UNKNOWN_SPEAKER = "unknown"


@dataclass(frozen=True)
class CorpusItem:
    """One labelled media file. `emotion` is the corpus' own class name (before canonicalisation)."""

    path: Path
    label: str | None
    speaker: str
    corpus: str
    emotion: str = ""

    @property
    def speaker_key(self) -> str:
        """Speaker id unique across corpora: what leave-one-speaker-out groups by."""
        return f"{self.corpus}/{self.speaker}"


# EmoDB `SSaNNEv`: speaker, text id, emotion letter, version. Boredom has no canonical label.
_EMODB_RE = re.compile(r"^(?P<spk>\d{2})(?P<text>[a-z]\d{2})(?P<emo>[WLEAFTN])(?P<ver>[a-z])$")
_EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
# nEMO `SPK_emotion_N`: the emotion is spelled out (anger, fear, happiness, neutral, sadness, surprised).
_NEMO_RE = re.compile(r"^(?P<spk>[A-Z]{2}\d)_(?P<emo>[a-z]+)_(?P<n>\d+)$")
# RAVDESS `MM-VC-EE-II-SS-RR-AA`: modality (01 AV, 02 video-only, 03 audio-only), vocal channel
# (01 speech, 02 song), emotion, intensity, statement, repetition, actor.
_RAVDESS_RE = re.compile(
    r"^(?P<mod>0[1-3])-(?P<vc>0[12])-(?P<emo>0[1-8])-(?P<int>0[12])-(?P<stm>0[12])-(?P<rep>0[12])-(?P<spk>\d{2})$"
)
_RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
# CREMA-D `1001_DFA_ANG_XX`: actor, sentence, emotion, intensity (LO MD HI XX).
_CREMAD_RE = re.compile(
    r"^(?P<spk>\d{4})_(?P<stm>[A-Z]{3})_(?P<emo>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<int>[A-Z]{2})$"
)
_CREMAD_EMOTIONS = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}


# ASED `xN-SS-RR-GG-PP`: emotion letter + source folder number (n1 f2 h3 s4 a5), sentence 01-07,
# repetition, gender (01 female, 02 male; wrong in 5 files, so never used), speaker 01-65. One file
# name is upper case (`S4-...`): matched case-insensitively.
_ASED_RE = re.compile(
    r"^(?P<emo>n1|f2|h3|s4|a5)-(?P<sent>0[1-7])-(?P<rep>0[12])-(?P<gg>0[12])-(?P<spk>\d{2})$", re.IGNORECASE
)
_ASED_EMOTIONS = {"n1": "neutral", "f2": "fearful", "h3": "happy", "s4": "sad", "a5": "angry"}
# The second file of each byte-identical pair in ASED v1 (the source's `duplicate_of` column).
ASED_DUPLICATES: frozenset[str] = frozenset(
    {"h3-01-02-02-08", "s4-03-02-01-23", "n1-07-02-02-53", "a5-07-02-02-63"}
)
# EMOVO `emo-spk-sent`: Italian emotion code, speaker f1-f3 / m1-m3, sentence code (b1-b3 d1-d2 l1-l4 n1-n5).
_EMOVO_RE = re.compile(r"^(?P<emo>rab|dis|pau|gio|neu|tri|sor)-(?P<spk>[fm][1-3])-(?P<sent>[bdln]\d)$")
_EMOVO_EMOTIONS = {
    "rab": "angry",
    "dis": "disgust",
    "pau": "fear",
    "gio": "happy",
    "neu": "neutral",
    "tri": "sad",
    "sor": "surprise",
}


def _label_or_none(emotion: str) -> str | None:
    """Canonical label, or None for a class we deliberately leave out (boredom, contempt)."""
    if emotion.lower() not in LABEL_ALIASES:
        return None
    return canonical_label(emotion)


def parse_emodb(path: Path) -> CorpusItem | None:
    m = _EMODB_RE.match(path.stem)
    if m is None:
        return None
    emotion = _EMODB_EMOTIONS[m["emo"]]
    return CorpusItem(path, _label_or_none(emotion), m["spk"], "emodb", emotion)


def parse_nemo(path: Path) -> CorpusItem | None:
    m = _NEMO_RE.match(path.stem)
    if m is None or m["emo"] not in LABEL_ALIASES:
        return None
    return CorpusItem(path, canonical_label(m["emo"]), m["spk"], "nemo", m["emo"])


def parse_ased(path: Path) -> CorpusItem | None:
    m = _ASED_RE.match(path.stem)
    if m is None:
        return None
    emotion = _ASED_EMOTIONS[m["emo"].lower()]
    return CorpusItem(path, canonical_label(emotion), m["spk"], "ased", emotion)


def parse_emovo(path: Path) -> CorpusItem | None:
    m = _EMOVO_RE.match(path.stem)
    if m is None:
        return None
    return CorpusItem(path, _EMOVO_EMOTIONS[m["emo"]], m["spk"], "emovo", m["emo"])


def is_duplicate(item: CorpusItem) -> bool:
    """A known copy of another file of the corpus (dropped so it cannot leak across folds)."""
    return item.corpus == "ased" and item.path.stem.lower() in ASED_DUPLICATES


def parse_ravdess(path: Path) -> CorpusItem | None:
    m = _RAVDESS_RE.match(path.stem)
    if m is None:
        return None
    emotion = _RAVDESS_EMOTIONS[m["emo"]]
    return CorpusItem(path, canonical_label(emotion), m["spk"], "ravdess", emotion)


def parse_cremad(path: Path) -> CorpusItem | None:
    m = _CREMAD_RE.match(path.stem)
    if m is None:
        return None
    emotion = _CREMAD_EMOTIONS[m["emo"]]
    return CorpusItem(path, canonical_label(emotion), m["spk"], "cremad", emotion)


NAME_PARSERS: tuple[Callable[[Path], CorpusItem | None], ...] = (
    parse_emodb,
    parse_nemo,
    parse_ased,
    parse_emovo,
    parse_ravdess,
    parse_cremad,
)


def parse_name(path: Path) -> CorpusItem | None:
    """Label and speaker from a corpus file name, or None when no known naming scheme matches."""
    for parser in NAME_PARSERS:
        item = parser(path)
        if item is not None:
            return item
    return None


def _files(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    wanted = {s.lower() for s in suffixes}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


def _label_folders(root: Path) -> list[Path]:
    """Immediate subfolders of root named after a label (alias, any case); empty if none is."""
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name.strip().lower() in LABEL_ALIASES)


def walk_corpus(
    root: Path | str, suffixes: Iterable[str] = AUDIO_SUFFIXES
) -> tuple[list[CorpusItem], dict[str, int]]:
    """All labelled files under root, in a stable order, and counts of what was left out and why.

    Layout is detected automatically: if root has subfolders named after labels, it is a
    `<label>/<file>` tree (the folder is the label; a corpus file name inside still supplies the
    speaker); otherwise every file name must follow one of the corpus schemes. Skip reasons:
    `unrecognised_name`, `no_label:<class>` (a class outside our seven, e.g. boredom),
    `unknown_label_folder:<name>` (a folder beside the label folders whose name is no label),
    `duplicate` (a known copy of another file: ASED_DUPLICATES).
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"data folder not found: {root}")
    skipped: Counter[str] = Counter()
    items: list[CorpusItem] = []
    label_dirs = _label_folders(root)
    if label_dirs:
        # A sibling folder with an unknown name is most likely a typo: report it, do not guess.
        for other in sorted(d for d in root.iterdir() if d.is_dir() and d not in label_dirs):
            skipped[f"unknown_label_folder:{other.name}"] += len(_files(other, suffixes))
        for folder in label_dirs:
            label = canonical_label(folder.name)
            for path in _files(folder, suffixes):
                named = parse_name(path)
                speaker = named.speaker if named else UNKNOWN_SPEAKER
                corpus = named.corpus if named else FOLDER_CORPUS
                item = CorpusItem(path, label, speaker, corpus, folder.name)
                if label is None:
                    skipped[f"no_label:{folder.name.lower()}"] += 1
                elif named is not None and is_duplicate(named):
                    skipped["duplicate"] += 1
                else:
                    items.append(item)
    else:
        for path in _files(root, suffixes):
            item = parse_name(path)
            if item is None:
                skipped["unrecognised_name"] += 1
            elif item.label is None:
                skipped[f"no_label:{item.emotion}"] += 1
            elif is_duplicate(item):
                skipped["duplicate"] += 1
            else:
                items.append(item)
    return items, dict(skipped)
