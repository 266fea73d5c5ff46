"""Ship a network trained by `training.face.ferplus_train`: temperature, ONNX, int8, checks, numbers.

    python -m training.face.export_v2 --weights runs/face-v2/distil_s32.pt --data DATA/fer2013 \
        --out emotion_models/assets/face_emotion.onnx --report runs/face-v2/export.json

The temperature is fitted on validation against FER+ majority labels (training images' copies left
out), inside the graph with the flip average as before, so run-time code is unchanged. The int8
graph (static QDQ, per-channel weights, activations calibrated on 1024 training crops) is checked
against the torch network on every validation image before it is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from emotion_models.face.ferplus import majority_labels
from emotion_models.labels import LABELS
from emotion_models.metrics import classification_report
from training.face.ensemble import quantize_int8
from training.face.ferplus_data import read_folder
from training.face.ferplus_train import area_resized
from training.face.net import FaceEmotionInference, FaceEmotionNet, export_onnx
from training.face.train import expected_calibration_error, fit_temperature
from training.face.warm_start import saved_net

log = logging.getLogger("training.face.export_v2")


def load_net(path: Path) -> tuple[FaceEmotionNet, list[int]]:
    net = saved_net(path)
    widths = [m.out_channels for m in net.features.modules() if isinstance(m, torch.nn.Conv2d)][::2]
    return net.eval(), widths


def onnx_probs(path: Path, pixels: np.ndarray, threads: int = 1, batch: int = 256) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = pixels[:, None].astype(np.float32)
    return np.concatenate([session.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def ms_per_face(path: Path, pixels: np.ndarray, batch: int = 8, repeats: int = 300) -> float:
    """Median-of-5 time per face at a batch of 8 on one core (the pipeline's classify batch)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = pixels[:batch, None].astype(np.float32)
    for _ in range(20):
        session.run(None, {name: x})
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats // 5):
            session.run(None, {name: x})
        runs.append((time.perf_counter() - start) / (repeats // 5) / batch * 1000)
    return round(float(np.median(runs)), 3)


def scores(
    probs: np.ndarray, ferplus: np.ndarray, folder: np.ndarray, in_train: np.ndarray
) -> dict[str, Any]:
    keep = (ferplus >= 0) & ~in_train
    pred = probs.argmax(1)
    fp = classification_report(ferplus[keep].tolist(), pred[keep].tolist())
    fp["ece"] = round(expected_calibration_error(probs[keep], ferplus[keep]), 4)
    fo = classification_report(folder.tolist(), pred.tolist())
    fo["ece"] = round(expected_calibration_error(probs, folder), 4)
    return {"ferplus_majority": fp, "folder_labels": fo}


def export(args: argparse.Namespace) -> dict[str, Any]:
    net, widths = load_net(args.weights)
    splits = read_folder(args.data, args.votes or args.data / "ferplus_votes.csv")
    val, train = splits["validation"], splits["train"]
    pixels = area_resized(val.images)
    ferplus, folder, in_train = majority_labels(val.votes), val.folder_labels, val.in_train

    inference = FaceEmotionInference(net, 1.0).eval()
    with torch.no_grad():
        logits = torch.log(inference(torch.from_numpy(pixels[:, None].astype(np.float32))))
    keep = torch.from_numpy((ferplus >= 0) & ~in_train)
    temperature = fit_temperature(logits[keep], torch.from_numpy(ferplus)[keep])
    inference = FaceEmotionInference(net, temperature).eval()
    with torch.no_grad():
        torch_probs = inference(torch.from_numpy(pixels[:, None].astype(np.float32))).numpy()

    work = args.report.parent if args.report else Path("runs/face-v2")
    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / "face_emotion_fp32.onnx"
    export_onnx(inference, str(fp32))
    rng = np.random.default_rng(0)
    picked = rng.choice(len(train.images), min(1024, len(train.images)), replace=False)
    calibration = area_resized(train.images[picked])
    int8_model = quantize_int8(onnx.load(fp32), calibration, work / "quant")
    int8 = work / "face_emotion_int8.onnx"
    onnx.save(int8_model, int8)

    fp32_probs, int8_probs = onnx_probs(fp32, pixels), onnx_probs(int8, pixels)
    agreement = {
        "fp32_onnx_vs_torch_max_abs": float(np.abs(fp32_probs - torch_probs).max()),
        "int8_vs_fp32_top1_agreement": float((int8_probs.argmax(1) == fp32_probs.argmax(1)).mean()),
    }
    if agreement["fp32_onnx_vs_torch_max_abs"] > 1e-3:
        raise RuntimeError(f"ONNX export does not match torch: {agreement}")
    report = {
        "weights": str(args.weights),
        "widths": widths,
        "temperature": round(temperature, 4),
        "agreement": agreement,
        "fp32": scores(fp32_probs, ferplus, folder, in_train),
        "int8": scores(int8_probs, ferplus, folder, in_train),
        "ms_per_face_batch8_one_core": {"fp32": ms_per_face(fp32, pixels), "int8": ms_per_face(int8, pixels)},
        "labels": list(LABELS),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(int8_model, args.out)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True, help="a state dict written by ferplus_train")
    p.add_argument("--data", type=Path, required=True, help="the fer2013/ folder")
    p.add_argument("--votes", type=Path, help="default: DATA/ferplus_votes.csv")
    p.add_argument("--out", type=Path, help="where the int8 graph goes (e.g. the shipped asset)")
    p.add_argument("--report", type=Path, help="JSON with every number")
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = export(build_parser().parse_args(argv))

    def brief(s: dict[str, Any]) -> dict[str, Any]:
        return {k: round(s[k], 4) for k in ("accuracy", "macro_f1", "uar", "ece")} | {
            "neutral_recall": s["per_class"]["neutral"]["recall"]
        }

    print(
        json.dumps(
            {
                "temperature": report["temperature"],
                "agreement": report["agreement"],
                "ms_per_face": report["ms_per_face_batch8_one_core"],
                **{
                    f"{g}_{s}": brief(report[g][s])
                    for g in ("fp32", "int8")
                    for s in ("ferplus_majority", "folder_labels")
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
