"""Train the face-emotion classifier and export it to ONNX.

    python -m training.face.train --train DATA/fer2013/train --val DATA/fer2013/validation \
        --out runs/face --time-budget-min 110

Model selection uses the validation split only (best macro-F1 over evaluation points); the same
split fits the softmax temperature. The schedule is either a fixed number of epochs (`--epochs`,
exactly reproducible) or a wall-clock budget (`--time-budget-min`): learning rate follows a cosine
over the *fraction of the budget used*, so a run on a busy 2-core machine still anneals fully.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emotion_models.labels import LABELS, NUM_LABELS
from emotion_models.metrics import classification_report, format_report
from training.face.dataset import FaceArrays, load_face_folder
from training.face.net import (
    INPUT_SIZE,
    PIXEL_MEAN,
    PIXEL_STD,
    FaceEmotionInference,
    FaceEmotionNet,
    export_onnx,
)

log = logging.getLogger("training.face")


def augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batch augmentation on normalised (N,1,S,S) tensors: flip, affine, photometric, erasing."""
    n = batch.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = u(-12, 12) * math.pi / 180
    scale = u(0.88, 1.12)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out * u(0.75, 1.25).view(n, 1, 1, 1) + u(-0.3, 0.3).view(n, 1, 1, 1)
    # Random erasing: occlusions (hands, glasses, compression blocks) are common in calls.
    s = out.shape[-1]
    erase = torch.rand(n, generator=gen) < 0.5
    for i in torch.nonzero(erase).flatten().tolist():
        h = int(torch.randint(s // 6, s // 2, (1,), generator=gen))
        w = int(torch.randint(s // 6, s // 2, (1,), generator=gen))
        y = int(torch.randint(0, s - h, (1,), generator=gen))
        x = int(torch.randint(0, s - w, (1,), generator=gen))
        out[i, :, y : y + h, x : x + w] = torch.randn(1, h, w, generator=gen) * 0.5
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(images).float().unsqueeze(1) - PIXEL_MEAN) / PIXEL_STD


@torch.no_grad()
def predict_logits(net: FaceEmotionNet, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Flip-averaged logits, the same computation as the exported inference graph."""
    net.eval()
    outs = [
        (net(x[i : i + batch]) + net(torch.flip(x[i : i + batch], dims=[3]))) / 2
        for i in range(0, len(x), batch)
    ]
    return torch.cat(outs)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): one scalar minimising validation NLL."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    ece = 0.0
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor:
    """Inverse-frequency weights to the given power (0.5 = square root), mean 1 over classes."""
    counts = np.bincount(labels, minlength=NUM_LABELS).astype(float)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    return torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    train_set: FaceArrays = load_face_folder(Path(args.train), INPUT_SIZE)
    val_set: FaceArrays = load_face_folder(Path(args.val), INPUT_SIZE)
    n_train, n_val = len(train_set.labels), len(val_set.labels)
    log.info("loaded %d train / %d val images in %.0fs", n_train, n_val, time.time() - t0)
    x_train, y_train = to_tensor(train_set.images), torch.from_numpy(train_set.labels)
    x_val, y_val = to_tensor(val_set.images), torch.from_numpy(val_set.labels)

    net = FaceEmotionNet(widths=tuple(args.widths), dropout=args.dropout)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    # Exponential moving average of the weights (and BN statistics): a free ensemble over the last
    # few epochs that typically adds a few tenths of a point; both it and the raw net are scored.
    ema = (
        torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema), use_buffers=True
        )
        if args.ema
        else None
    )
    # torch.compile fuses conv+BN+ReLU for the training step (~10% per epoch on 2 cores); evaluation
    # and export use the plain module, which shares the same parameters.
    train_net = torch.compile(net) if args.compile else net
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    weights = class_weights(train_set.labels, args.class_weight_power)
    steps_per_epoch = math.ceil(len(y_train) / args.batch_size)
    budget_s = args.time_budget_min * 60 if args.time_budget_min else None
    total_steps = args.epochs * steps_per_epoch if args.epochs else None

    def progress(step: int, start: float) -> float:
        if total_steps is not None:
            return step / total_steps
        return (time.time() - start) / budget_s  # type: ignore[operator]

    def lr_at(p: float) -> float:
        if p < args.warmup:
            return args.lr * max(p / args.warmup, 0.02)
        q = min((p - args.warmup) / (1 - args.warmup), 1.0)
        return args.lr * 0.5 * (1 + math.cos(math.pi * q))

    best = {"macro_f1": -1.0}
    history = []
    step = 0
    start = time.time()
    epoch = 0
    done = False
    while not done:
        epoch += 1
        net.train()
        perm = torch.randperm(len(y_train), generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            p = progress(step, start)
            if p >= 1.0:
                done = True
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(p)
            idx = perm[b * args.batch_size : (b + 1) * args.batch_size]
            xb = augment(x_train[idx], gen)
            if args.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(
                train_net(xb), y_train[idx], weight=weights, label_smoothing=args.label_smoothing
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(net)
            running += float(loss.detach())
            step += 1
        if total_steps is not None and step >= total_steps:
            done = True
        if not done and progress(step, start) < args.eval_from:
            # Early checkpoints never win under a cosine schedule; skipping their evaluation buys
            # training time (scoring both weight sets costs ~15% of an epoch on 2 cores).
            log.info(
                "epoch %d, %d steps, %.1f min, loss %.4f",
                epoch,
                step,
                (time.time() - start) / 60,
                running / max(b, 1),
            )
            continue
        candidates = {"raw": net} | ({"ema": ema.module} if ema is not None else {})
        reports = {
            name: classification_report(y_val.tolist(), predict_logits(m, x_val).argmax(1).tolist())
            for name, m in candidates.items()
        }
        chosen = max(reports, key=lambda name: reports[name]["macro_f1"])
        rep = reports[chosen]
        entry = {
            "epoch": epoch,
            "steps": step,
            "minutes": round((time.time() - start) / 60, 2),
            "train_loss": round(running / max(b, 1), 4),
            "val_accuracy": round(rep["accuracy"], 4),
            "val_macro_f1": round(rep["macro_f1"], 4),
            "weights": chosen,
            "lr": round(lr_at(min(progress(step, start), 1.0)), 5),
        }
        history.append(entry)
        log.info("%s", json.dumps(entry))
        if rep["macro_f1"] > best["macro_f1"]:
            best = {
                "macro_f1": rep["macro_f1"],
                "epoch": epoch,
                "accuracy": rep["accuracy"],
                "weights": chosen,
            }
            torch.save(candidates[chosen].state_dict(), out / "best.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1))

    train_minutes = (time.time() - start) / 60
    net.load_state_dict(torch.load(out / "best.pt"))
    logits = predict_logits(net, x_val)
    temperature = fit_temperature(logits, y_val)
    probs = torch.softmax(logits / temperature, 1).numpy()
    report = classification_report(y_val.tolist(), probs.argmax(1).tolist())
    report["ece_before"] = expected_calibration_error(torch.softmax(logits, 1).numpy(), y_val.numpy())
    report["ece_after"] = expected_calibration_error(probs, y_val.numpy())
    log.info("validation (best epoch %s, T=%.3f)\n%s", best.get("epoch"), temperature, format_report(report))

    inference = FaceEmotionInference(net, temperature).eval()
    onnx_path = out / "face_emotion.onnx"
    export_onnx(inference, str(onnx_path))
    summary = {
        "labels": list(LABELS),
        "input_size": INPUT_SIZE,
        "best_epoch": best.get("epoch"),
        "best_weights": best.get("weights", "raw"),
        "epochs_run": epoch,
        "train_minutes": round(train_minutes, 1),
        "temperature": temperature,
        "train_images": len(y_train),
        "val_images": len(y_val),
        "train_skipped": train_set.skipped,
        "args": {k: v for k, v in vars(args).items()},
        "validation": report,
        "history": history,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    return summary


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="<label>/<image> folder used for fitting")
    ap.add_argument("--val", required=True, help="<label>/<image> folder used for model selection only")
    ap.add_argument("--out", required=True, help="output folder (checkpoint, ONNX, metrics.json)")
    sched = ap.add_mutually_exclusive_group(required=True)
    sched.add_argument("--epochs", type=int, help="fixed schedule length (reproducible)")
    sched.add_argument("--time-budget-min", type=float, help="wall-clock schedule length")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.03, help="fraction of the schedule")
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--class-weight-power", type=float, default=0.5)
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--ema", type=float, default=0.0, help="weight EMA decay per step (0: off)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format (faster on some CPUs)")
    ap.add_argument(
        "--eval-from",
        type=float,
        default=0.0,
        help="fraction of the schedule before which epochs are not scored",
    )
    ap.add_argument("--compile", action="store_true", help="torch.compile the training step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
