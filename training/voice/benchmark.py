"""Real-time factor of the voice path (streaming VAD + classifier) on one CPU core.

    python -m training.voice.benchmark [--data DATA] [--seconds 60] [--json]

Builds a stream of real speech (EmoDB and nEMO clips with pauses between them, from --data or
$EMOTION_BOT_DATA), feeds it to `StreamingVAD` in 20 ms chunks (LiveKit's frame size) and classifies
every segment as it closes, with the process pinned to one core, onnxruntime on one thread and numpy
on one BLAS thread (as in the bot: an OpenBLAS worker spin-waiting on the same core doubled the CPU
time measured here, RTF 0.024 instead of 0.012).
RTF = processing time / audio duration (target <= 0.02: a minute of audio in <= 1.2 s). The RTF is
taken from the process's CPU time, which is what one core spends whatever else shares the machine;
the wall-clock figure is reported beside it (on a busy machine it includes time spent waiting).
`rtf_<part>` splits the classifier's share by front-end part (trimming, each feature block, the
MLP), so what each encoder costs is on record. `--model` (or $EMOTION_BOT_VOICE_MODEL) times a
candidate model instead of the shipped one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from emotion_models.corpora import AUDIO_SUFFIXES, walk_corpus
from emotion_models.voice.audio import SAMPLE_RATE, load_audio
from emotion_models.voice.classifier import VoiceEmotionClassifier
from emotion_models.voice.inputs import block_features
from emotion_models.voice.trim import trim_silence
from emotion_models.voice.vad import StreamingVAD, segment_wave

CHUNK = SAMPLE_RATE // 50  # 20 ms


def default_data_dir() -> Path:
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("EMOTION_BOT_DATA", repo.parent / "shared" / "data"))


def speech_stream(data: Path, seconds: float, seed: int = 0) -> np.ndarray:
    """int16 16 kHz stream of random corpus clips separated by 0.3-1.0 s pauses."""
    paths = [item.path for sub in ("emodb", "nemo") for item in walk_corpus(data / sub, AUDIO_SUFFIXES)[0]]
    if not paths:
        raise FileNotFoundError(f"no EmoDB/nEMO audio under {data}")
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * SAMPLE_RATE:
        clip = load_audio(paths[int(rng.integers(len(paths)))])
        pause = np.zeros(int(rng.uniform(0.3, 1.0) * SAMPLE_RATE), dtype=np.float32)
        parts += [clip, pause]
        total += clip.shape[0] + pause.shape[0]
    stream = np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]
    return (np.clip(stream, -1, 1) * 32767).astype(np.int16)


def run(stream: np.ndarray, classifier: VoiceEmotionClassifier) -> dict[str, float]:
    """Process the stream as the live pipeline would; returns timings."""
    vad = StreamingVAD()
    vad_s = clf_s = 0.0
    segments = 0
    wall0 = time.perf_counter()
    for start in range(0, stream.shape[0] + 1, CHUNK):
        t0 = time.process_time()
        closed = vad.push(stream[start : start + CHUNK]) if start < stream.shape[0] else vad.flush()
        t1 = time.process_time()
        if closed:
            classifier.predict_batch([s.samples for s in closed])
        vad_s += t1 - t0
        clf_s += time.process_time() - t1
        segments += len(closed)
    wall = time.perf_counter() - wall0
    audio_s = stream.shape[0] / SAMPLE_RATE
    return {
        "audio_s": round(audio_s, 2),
        "segments": segments,
        "vad_cpu_s": round(vad_s, 4),
        "classifier_cpu_s": round(clf_s, 4),
        "total_cpu_s": round(vad_s + clf_s, 4),
        "rtf": round((vad_s + clf_s) / audio_s, 5),
        "wall_s": round(wall, 4),
        "wall_rtf": round(wall / audio_s, 5),
    }


def block_costs(stream: np.ndarray, classifier: VoiceEmotionClassifier) -> dict[str, float]:
    """RTF of each part of the classifier's front end on the stream's VAD segments (CPU time)."""
    segments = [s.samples for s in segment_wave(stream.astype(np.float32) / 32768.0, StreamingVAD())]
    audio_s = stream.shape[0] / SAMPLE_RATE
    costs: dict[str, float] = {}
    t0 = time.process_time()
    trimmed = [trim_silence(w) for w in segments] if classifier.frontend.trim else segments
    costs["trim"] = time.process_time() - t0
    for block in classifier.frontend.blocks:
        t0 = time.process_time()
        rows = [block_features(w, block, classifier.encoders) for w in trimmed]
        costs[block] = time.process_time() - t0
    t0 = time.process_time()
    classifier.predict_features(np.zeros((len(rows), classifier.num_inputs), np.float32))
    costs["classifier"] = time.process_time() - t0
    return {f"rtf_{k}": round(v / audio_s, 5) for k, v in costs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder holding emodb/ and nemo/")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="report the fastest of this many runs")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    stream = speech_stream(args.data or default_data_dir(), args.seconds)
    classifier = VoiceEmotionClassifier.load(args.model, threads=1)
    run(stream[: SAMPLE_RATE * 5], classifier)  # warm-up: sessions, caches
    best = min((run(stream, classifier) for _ in range(args.repeats)), key=lambda r: r["rtf"])
    result = {"benchmark": "voice_vad_plus_classifier", "cores": 1, "chunk_ms": 20, **best}
    result |= {"frontend": classifier.frontend.name, **block_costs(stream, classifier)}
    if not args.json:
        print(f"{best['audio_s']} s of audio in {best['total_cpu_s']} s CPU on one core: RTF {best['rtf']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
