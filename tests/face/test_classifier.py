from __future__ import annotations

import numpy as np
import pytest

from emotion_models.face.align import align_face
from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.labels import NUM_LABELS
from emotion_models.model_files import ModelFileError


@pytest.fixture(scope="module")
def crops(detector, astronaut) -> list[np.ndarray]:
    face = detector.detect(astronaut)[0]
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (40, 40), dtype=np.uint8) for _ in range(3)]
    return [align_face(astronaut, face), *noise]


def test_seven_probabilities_summing_to_one(classifier, crops):
    assert classifier.input_size == 40
    probs = classifier.predict_batch(crops)
    assert probs.shape == (len(crops), NUM_LABELS) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert len({row.argmax() for row in probs}) >= 1


def test_deterministic_and_batch_independent(classifier, crops):
    first = classifier.predict_batch(crops)
    np.testing.assert_array_equal(first, classifier.predict_batch(crops))
    single = classifier.predict_batch(crops[:1])
    np.testing.assert_allclose(single[0], first[0], atol=1e-5)


def test_other_crop_sizes_are_resized(classifier, crops):
    import cv2

    big = cv2.resize(crops[0], (48, 48), interpolation=cv2.INTER_CUBIC)
    probs = classifier.predict_batch([big])
    assert probs.shape == (1, NUM_LABELS)


def test_empty_batch_and_bad_crops(classifier):
    assert classifier.predict_batch([]).shape == (0, NUM_LABELS)
    with pytest.raises(ValueError, match="grayscale"):
        classifier.predict_batch([np.zeros((40, 40, 3), np.uint8)])


def test_unloadable_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ModelFileError, match="cannot load"):
        FaceEmotionClassifier.load(bogus)
    with pytest.raises(ModelFileError, match="missing"):
        FaceEmotionClassifier.load(tmp_path / "absent.onnx")
