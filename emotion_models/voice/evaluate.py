"""`emotion-bot eval voice --data DIR [--telephone] [--model M] [--json]`.

DIR is a `<label>/<audio>` tree or a folder of EmoDB / nEMO / RAVDESS / CREMA-D files (detected by
`emotion_models.corpora.walk_corpus`); wav, flac or ogg at any rate, mono or stereo.

Each clip is classified the way the live pipeline classifies a participant's audio: the streaming
VAD cuts it into utterance windows (<= 4 s, overlapping), the classifier scores every window, and
the clip's probabilities are the duration-weighted mean. A clip in which the VAD finds no speech is
classified whole (counted as `no_speech_clips`). Unreadable or empty files are skipped and counted.

Speaker adaptation, as in a call: a speaker-normalised model keeps running statistics per speaker
(the speaker id from the corpus file name; files without one share a single "unknown" speaker, i.e.
the folder's recording set-up). Clips are visited in a fixed shuffled order, so each speaker's
statistics grow over a mix of emotions the way they do over a call, not class by class.
`--no-speaker-adaptation` scores every clip against the prior alone (a first utterance).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from emotion_models.corpora import AUDIO_SUFFIXES, walk_corpus
from emotion_models.labels import LABEL_INDEX, UnknownLabelError
from emotion_models.metrics import classification_report, print_eval_result
from emotion_models.voice.audio import SAMPLE_RATE, AudioDecodeError, load_audio
from emotion_models.voice.classifier import VoiceEmotionClassifier
from emotion_models.voice.speaker_norm import SpeakerNormaliser
from emotion_models.voice.telephone import degrade_to_telephone
from emotion_models.voice.vad import StreamingVAD, segment_wave

log = logging.getLogger("emotion_models.voice.evaluate")


SHUFFLE_SEED = 0


def classify_clip(
    wave: np.ndarray,
    classifier: VoiceEmotionClassifier,
    vad: StreamingVAD,
    speaker: SpeakerNormaliser | None = None,
) -> tuple[np.ndarray, bool]:
    """(7,) probabilities of one 16 kHz clip and whether the VAD found speech in it.

    `speaker` (updated here) is the running statistics of the clip's speaker, if the model uses them.
    """
    segments = segment_wave(wave, vad)
    if not segments:
        return classifier.predict_batch([wave], [speaker])[0], False
    probs = classifier.predict_batch([s.samples for s in segments], [speaker] * len(segments))
    durations = np.array([s.duration for s in segments], dtype=np.float32)
    return (probs * durations[:, None]).sum(axis=0) / durations.sum(), True


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate the voice model on args.data; prints the report and the final JSON line."""
    started = time.perf_counter()
    try:
        items, skipped_counts = walk_corpus(Path(args.data), AUDIO_SUFFIXES)
        classifier = VoiceEmotionClassifier.load(Path(args.model) if args.model else None)
    except (NotADirectoryError, FileNotFoundError, UnknownLabelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    skipped: Counter[str] = Counter(skipped_counts)
    vad = StreamingVAD()
    speakers: dict[str, SpeakerNormaliser | None] = {}
    adapt = not args.no_speaker_adaptation
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(items))
    y_true: list[int] = []
    y_pred: list[int] = []
    audio_seconds = 0.0
    no_speech = 0
    corpora: Counter[str] = Counter()
    for index in order:
        item = items[index]
        try:
            wave = load_audio(item.path)
        except AudioDecodeError as exc:
            log.warning("skipped: %s", exc)
            skipped["unreadable_or_empty"] += 1
            continue
        if args.telephone:
            wave = degrade_to_telephone(wave, SAMPLE_RATE)
        if adapt and item.speaker_key not in speakers:
            speakers[item.speaker_key] = classifier.new_normaliser()
        probs, had_speech = classify_clip(wave, classifier, vad, speakers.get(item.speaker_key))
        no_speech += not had_speech
        audio_seconds += wave.shape[0] / SAMPLE_RATE
        y_true.append(LABEL_INDEX[item.label])  # type: ignore[index]
        y_pred.append(int(np.argmax(probs)))
        corpora[item.corpus] += 1
    if not y_true:
        print(
            f"error: no readable labelled audio under {args.data} (skipped: {dict(skipped)})", file=sys.stderr
        )
        return 1
    elapsed = time.perf_counter() - started
    extra = {
        "modality": "voice",
        "model": str(classifier.path),
        "model_trained_on": classifier.metadata.get("trained_on", ""),
        "telephone": bool(args.telephone),
        "decision": "vad_windows_duration_weighted_mean",
        "speaker_adaptation": (
            "running_per_speaker" if adapt and classifier.uses_speaker_normalisation else "none"
        ),
        "speakers": len(speakers) if adapt else 0,
        "no_speech_clips": no_speech,
        "corpora": dict(corpora),
        "audio_seconds": round(audio_seconds, 1),
        "elapsed_s": round(elapsed, 1),
    }
    print_eval_result(classification_report(y_true, y_pred), dict(skipped), extra, args.json)
    return 0
