"""FER+ votes: parsing, the paper's majority rule, soft targets and the soft-target loss."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion_models.face.ferplus import (
    VOTE_COLUMNS,
    VotesFileError,
    count_reasons,
    majority,
    majority_class,
    majority_labels,
    read_votes,
    soft_target,
    soft_targets,
)
from emotion_models.labels import LABEL_INDEX
from training.face.ferplus_train import kd_loss, soft_cross_entropy

HEADER = "split,file," + ",".join(VOTE_COLUMNS)


def votes(**counts: int) -> np.ndarray:
    return np.array([counts.get(c, 0) for c in VOTE_COLUMNS], dtype=np.int64)


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_parsing_keys_splits_and_bad_rows(tmp_path):
    path = write_csv(
        tmp_path / "votes.csv",
        [
            "train,train/angry/Training_1.jpg,2,0,0,1,7,0,0,0,0,0",
            "train,train/surprise/Training_1.jpg,0,0,9,0,0,0,0,0,1,0",  # same file name, other folder
            "train,train/angry/Training_1.jpg,9,0,0,0,0,0,0,0,1,0",  # the same key again
            "train,train/sad/Training_2.jpg,1,x,0,0,0,0,0,0,0,0",  # not a number
            "train,train/sad/Training_3.jpg,0,0,0,0,0,0,0,0,0,0",  # no votes at all
            "train,train/sad/Training_4.jpg,-1,0,0,0,0,0,0,0,0,0",  # negative
            "validation,validation/happy/PublicTest_5.jpg,0,10,0,0,0,0,0,0,0,0",
        ],
    )
    train = read_votes(path, "train")
    assert set(train.votes) == {"angry/Training_1.jpg", "surprise/Training_1.jpg"}
    assert train.votes["angry/Training_1.jpg"].tolist() == [2, 0, 0, 1, 7, 0, 0, 0, 0, 0]  # first row kept
    assert train.skipped == {"duplicate_name": 1, "malformed_row": 3}
    # Looked up by any path that ends in <label folder>/<file>.
    assert train.get(Path("/data/fer2013/train/surprise/Training_1.jpg"))[2] == 9
    assert train.get("happy/PublicTest_5.jpg") is None
    everything = read_votes(path)
    assert everything.get("x/validation/happy/PublicTest_5.jpg")[1] == 10


def test_unusable_files_are_clear_errors(tmp_path):
    with pytest.raises(VotesFileError, match="cannot read"):
        read_votes(tmp_path / "absent.csv")
    path = write_csv(tmp_path / "v.csv", ["train,a/b.jpg,1,2"], header="split,file,neutral,happiness")
    with pytest.raises(VotesFileError, match="missing columns"):
        read_votes(path)


@pytest.mark.parametrize(
    ("counts", "winner"),
    [
        (votes(neutral=2, sadness=1, anger=7), "anger"),  # 7 of 9 after the lone vote goes
        (votes(neutral=5, happiness=5), None),  # a tie is not more than half
        (votes(neutral=6, happiness=4), "neutral"),
        (votes(surprise=3, anger=2, disgust=3, fear=1, unknown=1), None),  # 3 of 8 remaining
        (votes(neutral=4, happiness=1, surprise=1, sadness=1, anger=1, fear=1, unknown=1), "neutral"),
        (votes(contempt=8, neutral=2), "contempt"),
        (votes(**dict.fromkeys(VOTE_COLUMNS, 1)), None),  # ten lone votes: nothing to drop, no winner
    ],
)
def test_majority_rule_of_the_ferplus_paper(counts, winner):
    assert majority_class(counts) == winner


def test_majority_maps_to_our_labels_or_a_reason():
    assert majority(votes(anger=9, neutral=1)).label == LABEL_INDEX["angry"]
    assert majority(votes(happiness=10)).label == LABEL_INDEX["happy"]
    assert majority(votes(not_face=10)).reason == "not_face"
    assert majority(votes(neutral=5, happiness=5)).reason == "no_majority"
    rows = np.stack([votes(anger=9, neutral=1), votes(contempt=8, neutral=2), votes(neutral=5, sadness=5)])
    assert majority_labels(rows).tolist() == [LABEL_INDEX["angry"], -1, -1]
    assert majority_labels(np.zeros((1, 10), np.int64)).tolist() == [-1]  # no votes, no label
    assert count_reasons(list(rows)) == {"label": 1, "contempt": 1, "no_majority": 1}


def test_soft_targets_drop_lone_votes_and_classes_we_do_not_have():
    target = soft_target(votes(neutral=2, sadness=1, anger=7))
    expected = np.zeros(7, np.float32)
    expected[LABEL_INDEX["neutral"]], expected[LABEL_INDEX["angry"]] = 2 / 9, 7 / 9
    np.testing.assert_allclose(target, expected, atol=1e-7)
    # contempt/unknown votes leave the distribution but count against usability
    target = soft_target(votes(happiness=6, contempt=2, unknown=2))
    assert target[LABEL_INDEX["happy"]] == pytest.approx(1.0)
    assert soft_target(votes(happiness=5, contempt=3, unknown=2)) is None  # 5 of 10 is not > half
    targets, usable = soft_targets(np.stack([votes(happiness=10), votes(unknown=10), np.zeros(10, int)]))
    assert usable.tolist() == [True, False, False]
    assert targets[1].sum() == 0 and targets[0].sum() == pytest.approx(1.0)


def test_soft_cross_entropy_against_a_hand_computed_value():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0] * 7])
    target = torch.tensor([[0.75, 0, 0, 0, 0, 0, 0.25], [0, 0, 0, 1.0, 0, 0, 0]])
    # row 1: log-sum-exp = log(e^2 + e^1 + 5); -(0.75 (2 - lse) + 0.25 (1 - lse)) = lse - 1.75
    lse = math.log(math.e**2 + math.e + 5)
    row1 = lse - 1.75
    row2 = math.log(7)  # uniform logits: -log(1/7)
    assert float(soft_cross_entropy(logits, target)) == pytest.approx((row1 + row2) / 2, abs=1e-6)
    # a one-hot target is ordinary cross-entropy
    hard = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3]))
    onehot = torch.nn.functional.one_hot(torch.tensor([0, 3]), 7).float()
    assert float(soft_cross_entropy(logits, onehot)) == pytest.approx(float(hard), abs=1e-6)


def test_distillation_term_is_zero_for_a_perfect_student_and_scales_with_t_squared():
    teacher = torch.tensor([[3.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0]])
    assert float(kd_loss(teacher.clone(), teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(1, 7)
    p = torch.softmax(teacher / 2.0, 1)
    expected = float((p * (p.log() - math.log(1 / 7))).sum()) * 4
    assert float(kd_loss(student, teacher, 2.0)) == pytest.approx(expected, rel=1e-5)
