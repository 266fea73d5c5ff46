"""`emotion-bot eval voice` on a folder with broken, empty and stereo 48 kHz files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.commands import eval as eval_command
from emotion_models.labels import LABELS
from emotion_models.voice.audio import resample
from tests.voice.conftest import data_dir


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.fixture
def messy_folder(tmp_path: Path, emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> Path:
    for label in ("Anger", "sad", "happiness"):
        (tmp_path / label).mkdir()
    sf.write(tmp_path / "Anger" / "mono16k.wav", emodb_wave, 16000)
    stereo = np.stack([resample(nemo_wave, 16000, 48000)] * 2, axis=1) * 0.5
    sf.write(tmp_path / "happiness" / "stereo48k.flac", stereo, 48000)
    sf.write(tmp_path / "sad" / "empty.wav", np.zeros((0,), dtype=np.float32), 16000)
    (tmp_path / "sad" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(range(200)))
    (tmp_path / "sad" / "notes.txt").write_text("not audio")
    return tmp_path


@pytest.mark.parametrize("telephone", [False, True])
def test_eval_skips_broken_files_and_converts_stereo(
    messy_folder: Path, telephone: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "voice", "--data", str(messy_folder), "--json"] + (["--telephone"] if telephone else [])
    args = _parse(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, "--json prints exactly one line"
    result = json.loads(out[0])
    assert result["n"] == 2  # the mono 16 kHz clip and the stereo 48 kHz clip
    assert result["skipped"] == {"unreadable_or_empty": 2}
    assert result["telephone"] is telephone
    assert {"accuracy", "macro_f1", "uar", "per_class", "confusion_matrix"} <= set(result)
    assert result["per_class"]["angry"]["support"] == 1 and result["per_class"]["happy"]["support"] == 1
    assert result["no_speech_clips"] == 0


def test_eval_readable_report_then_json(messy_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["eval", "voice", "--data", str(messy_folder)])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("confusion matrix") for line in lines)
    assert json.loads(lines[-1])["n"] == 2


def test_eval_on_a_named_corpus_folder(
    emodb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("08a01Wa.wav", "08a01Fd.wav", "08a01Lc.wav", "09a01Wb.wav"):  # boredom is skipped
        (tmp_path / name).symlink_to(emodb_dir / "wav" / name)
    args = _parse(["eval", "voice", "--data", str(tmp_path), "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["n"] == 3 and result["skipped"] == {"no_label:boredom": 1}
    assert result["corpora"] == {"emodb": 3}
    # One running statistics per speaker named in the files (08 and 09).
    assert result["speaker_adaptation"] == "running_per_speaker" and result["speakers"] == 2

    args = _parse(["eval", "voice", "--data", str(tmp_path), "--json", "--no-speaker-adaptation"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["n"] == 3 and result["speaker_adaptation"] == "none" and result["speakers"] == 0


def test_eval_missing_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["eval", "voice", "--data", str(tmp_path / "nope")])
    assert args.func(args) == 2
    assert "data folder not found" in capsys.readouterr().err


def test_eval_folder_without_readable_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "angry").mkdir()
    (tmp_path / "angry" / "broken.ogg").write_bytes(b"OggS broken")
    args = _parse(["eval", "voice", "--data", str(tmp_path)])
    assert args.func(args) == 1
    assert "no readable labelled audio" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("corpus", "names", "labels"),
    [
        # ASED: emotion letter + take, sentence, ..., speaker last (a=angry, f=fear, h=happy, n=neutral)
        (
            "ased",
            ["a5-01-01-01-01.ogg", "f2-01-01-01-37.ogg", "h3-01-01-01-05.ogg", "n1-07-02-02-57.ogg"],
            ["angry", "fear", "happy", "neutral"],
        ),
        # EMOVO: Italian emotion code, speaker, sentence
        (
            "emovo",
            ["dis-f1-b1.ogg", "pau-m1-d2.ogg", "gio-f2-b2.ogg", "sor-m3-l4.ogg"],
            ["disgust", "fear", "happy", "surprise"],
        ),
    ],
)
def test_eval_on_a_folder_of_each_new_corpus_layout(
    corpus: str, names: list[str], labels: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = data_dir() / corpus
    if not source.is_dir():
        pytest.skip(f"{corpus} not found at {source}")
    for name in names:
        (tmp_path / name).symlink_to(source / name)
    args = _parse(["eval", "voice", "--data", str(tmp_path), "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["n"] == 4 and result["skipped"] == {}
    assert result["corpora"] == {corpus: 4}
    assert result["speakers"] == 4  # each file's speaker read from its name
    # the true labels come from the names: one clip of each
    rows = [sum(row) for row in result["confusion_matrix"]]
    assert [label for label, n in zip(LABELS, rows, strict=True) if n] == labels
