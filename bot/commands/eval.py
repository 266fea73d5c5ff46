"""`emotion-bot eval face|voice --data DIR`: accuracy, macro-F1 and UAR of the shipped models."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate a shipped model on a labelled folder")
    kinds = parser.add_subparsers(dest="modality", required=True)

    face = kinds.add_parser("face", help="face classifier (+ detector unless --crops)")
    face.add_argument("--data", required=True, help="<label>/<image> folder (label aliases accepted)")
    face.add_argument("--crops", action="store_true", help="images are already face crops: skip detection")
    face.add_argument("--model", help="ONNX file to evaluate instead of the shipped one")
    face.add_argument(
        "--labels",
        nargs="+",
        default=["folder"],
        metavar="SOURCE",
        help="`folder` (default: the <label>/ folder names) or `ferplus-votes CSV`: FER+ majority labels "
        "from a votes file (images without a majority are counted and left out)",
    )
    face.add_argument(
        "--exclude-pixels-of",
        metavar="DIR",
        help="leave out images whose pixels also occur under DIR (e.g. the training split)",
    )
    face.add_argument("--json", action="store_true", help="print only the final JSON line")
    face.set_defaults(func=_run_face)

    voice = kinds.add_parser("voice", help="voice classifier")
    voice.add_argument(
        "--data", required=True, help="<label>/<audio> folder or an EmoDB/nEMO/RAVDESS/CREMA-D folder"
    )
    voice.add_argument("--telephone", action="store_true", help="degrade audio to a phone channel first")
    voice.add_argument(
        "--no-speaker-adaptation",
        action="store_true",
        help="score each clip against the average-speaker prior (no running per-speaker statistics)",
    )
    voice.add_argument("--model", help="ONNX file to evaluate instead of the shipped one")
    voice.add_argument("--json", action="store_true", help="print only the final JSON line")
    voice.set_defaults(func=_run_voice)


def _run_face(args: argparse.Namespace) -> int:
    from emotion_models.face.evaluate import run_eval

    return run_eval(args)


def _run_voice(args: argparse.Namespace) -> int:
    from emotion_models.voice.evaluate import run_eval

    return run_eval(args)
