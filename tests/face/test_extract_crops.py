"""Crops from real (generated) videos in the RAVDESS, CREMA-D and <label>/ layouts."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from training.face.dataset import group_of, load_face_folder, split_groups
from training.face.extract_crops import main as extract_main

FPS = 5
N_FRAMES = 10


def _write_video(path: Path, astronaut: np.ndarray, codec: str) -> None:
    """The astronaut's head drifting across a 320x240 frame (a real moving face, not a still)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(N_FRAMES):
            window = astronaut[20 + 4 * i : 20 + 4 * i + 360, 60 + 6 * i : 60 + 6 * i + 480]
            rgb = np.ascontiguousarray(cv2.resize(window, (320, 240), interpolation=cv2.INTER_AREA))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _run(videos: Path, out: Path, *extra: str, capsys) -> dict:
    extract_main(["--videos", str(videos), "--out", str(out), "--fps", "2", *extra])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ravdess(tmp_path_factory, astronaut) -> Path:
    root = tmp_path_factory.mktemp("ravdess")
    _write_video(root / "Actor_12" / "01-01-03-01-01-01-12.mp4", astronaut, "mpeg4")  # happy
    _write_video(root / "Actor_07" / "02-01-05-01-01-01-07.mp4", astronaut, "mpeg4")  # angry
    _write_video(root / "Actor_05" / "01-01-02-02-01-01-05.mp4", astronaut, "mpeg4")  # calm -> neutral
    (root / "Actor_03").mkdir()
    (root / "Actor_03" / "01-01-04-01-01-01-03.mp4").write_bytes(b"\x00\x00\x00 not a video")
    return root


def test_ravdess_crops_named_by_actor(tmp_path, ravdess, capsys):
    summary = _run(ravdess, tmp_path / "out", capsys=capsys)
    assert summary["videos"] == 4 and summary["skipped"] == {"unreadable_video": 1}
    assert summary["per_label"] == {"angry": 4, "happy": 4, "neutral": 4}  # 2 s of video at 2 fps
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert "happy/ravdess-12__01-01-03-01-01-01-12_000000.png" in files
    crop = cv2.imread(str(tmp_path / "out" / files[0]), cv2.IMREAD_GRAYSCALE)
    assert crop.shape == (48, 48)

    arrays = load_face_folder(tmp_path / "out", 40)
    assert sorted(set(arrays.groups.tolist())) == ["ravdess-05", "ravdess-07", "ravdess-12"]


def test_group_split_keeps_actors_whole(tmp_path, ravdess, capsys):
    summary = _run(ravdess, tmp_path / "out", "--group-split", "0.34", capsys=capsys)
    assert len(summary["val_groups"]) == 1
    groups = {
        split: {group_of(p.name) for p in (tmp_path / "out" / split).rglob("*.png")}
        for split in ("train", "val")
    }
    assert groups["val"] == set(summary["val_groups"])
    assert groups["train"] and not groups["train"] & groups["val"]


def test_cremad_and_label_folder_layouts(tmp_path, astronaut, capsys):
    cremad = tmp_path / "cremad"
    _write_video(cremad / "1001_DFA_ANG_XX.flv", astronaut, "flv")
    _write_video(cremad / "1002_IEO_HAP_HI.flv", astronaut, "flv")
    summary = _run(cremad, tmp_path / "out1", capsys=capsys)
    assert summary["per_label"] == {"angry": 4, "happy": 4} and summary["groups"] == 2
    assert (tmp_path / "out1" / "angry" / "cremad-1001__1001_DFA_ANG_XX_000000.png").is_file()

    folders = tmp_path / "folders"
    _write_video(folders / "surprised" / "clip_a.mp4", astronaut, "mpeg4")
    _write_video(folders / "sad" / "clip_b.mp4", astronaut, "mpeg4")
    summary = _run(folders, tmp_path / "out2", capsys=capsys)
    assert summary["per_label"] == {"sad": 4, "surprise": 4}
    # No actor in the layout: each video is its own group, so a split never shares one video's frames.
    assert (tmp_path / "out2" / "surprise" / "video-clip_a__clip_a_000000.png").is_file()


def test_split_groups_is_deterministic_and_whole():
    groups = [f"a{i}" for i in range(10)] * 3
    val = split_groups(groups, 0.2, seed=1)
    assert len(val) == 2 and val == split_groups(groups, 0.2, seed=1)
    with pytest.raises(ValueError, match="2 groups"):
        split_groups(["only"], 0.5)
