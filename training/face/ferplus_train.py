"""Face model v2: learn from FER+ vote distributions, compare with folder labels, distil a cheap student.

    python -m training.face.ferplus_train --pack runs/ferplus.npz --out runs/face-v2 --device cuda \
        --budget compare=55,teacher=170,distil=150
    # on the 2-core CPU: fine-tune member 1 of the shipped ensemble, one arm per process and core
    python -m training.face.ferplus_train --pack runs/ferplus.npz --out runs/face-v2 --device cpu \
        --init emotion_models/assets/face_emotion.onnx:1 --arms votes --budget compare=2700 \
        --threads 1 --batch 128 --lr 0.02

(`--data DATA/fer2013` reads the folder instead of a pack; see training/face/ferplus_data.py.)

Phases, each on a wall-clock budget in seconds, learning rate on a cosine over the fraction of the
budget used (so a run anneals fully on any machine), every result scored and saved as soon as it
is finished (a run cut short keeps what it had):
 1. `compare`: the student network trained twice, everything equal but the targets: the FER2013
    folder labels (today's recipe: label smoothing 0.1, class weights inverse frequency ^ 0.5) and
    the FER+ vote distributions (`emotion_models.face.ferplus.soft_target`).
 2. `teacher`: a 4x wider network on the full 48x48 crops, on the vote distributions.
 3. `distil`: students at the shipped 40x40 input learn from 0.5 x votes + 0.5 x the teacher's
    softened output (temperature 2), both on the same augmented view (the teacher sees it at 48x48,
    the students at 40x40).
With `--init ENSEMBLE:MEMBER` the compare runs start from that member of an ensemble file
(`training/face/warm_start.py`; batch norm statistics frozen) instead of from random weights, so
both arms still differ only in their targets. A third arm, `mixed`, learns from
(1 - w) x votes + w x folder labels (`--folder-weight`), e.g. continuing a votes run (`--init
RUN/compare_votes.pt`): the FER2013 labels pull the model back toward the folder's view of a face.
Validation (FER2013 PublicTest) is scored against FER+ majority labels with the 280 images whose
pixels also occur in train left out, and against the folder labels; it selects between the raw
and the weight-averaged (EMA) network of each run and nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion_models.face.ferplus import majority_labels, soft_targets
from emotion_models.labels import NUM_LABELS
from emotion_models.metrics import classification_report
from training.face.ferplus_data import VotedSplit, read_folder, read_pack
from training.face.net import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD, FaceEmotionNet
from training.face.warm_start import freeze_batch_norm, start_net

log = logging.getLogger("training.face.ferplus")

TEACHER_WIDTHS = (64, 128, 256, 512)
STUDENTS = {"s32": (32, 64, 128, 256), "s48": (48, 96, 192, 384)}
TEACHER_SIZE = 48
KD_TEMPERATURE = 2.0
KD_WEIGHT = 0.5


# -- data ------------------------------------------------------------------------------------------


@dataclass
class Tensors:
    x48: torch.Tensor  # (N,1,48,48) normalised
    x40: torch.Tensor  # (N,1,40,40) normalised, area-resized like the run-time crop
    soft: torch.Tensor  # (N,7) vote distribution (zeros where unusable)
    usable: torch.Tensor  # (N,) bool: has a soft target
    folder: torch.Tensor  # (N,) int64 folder label
    majority: torch.Tensor  # (N,) int64 FER+ majority label, -1 where none


def area_resized(images: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for im in images])


def to_tensors(split: VotedSplit, device: torch.device) -> Tensors:
    soft, usable = soft_targets(split.votes)

    def norm(a: np.ndarray) -> torch.Tensor:
        return ((torch.from_numpy(a).float() - PIXEL_MEAN) / PIXEL_STD).unsqueeze(1).to(device)

    return Tensors(
        x48=norm(split.images),
        x40=norm(area_resized(split.images)),
        soft=torch.from_numpy(soft).to(device),
        usable=torch.from_numpy(usable).to(device),
        folder=torch.from_numpy(split.folder_labels).to(device),
        majority=torch.from_numpy(majority_labels(split.votes)).to(device),
    )


# -- augmentation ------------------------------------------------------------------------------------


def augment(views: Sequence[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """One random flip/affine/photometric/erasing per sample, applied alike to every view.

    The views are the same images at different sizes; the transform works in normalised
    coordinates, so the teacher's 48x48 and the student's 40x40 see the same augmented face.
    """
    n, device = views[0].shape[0], views[0].device

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo

    angle = u(-15, 15) * math.pi / 180
    scale = u(0.85, 1.15)
    flip = torch.where(torch.rand(n, generator=gen, device=device) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.1, 0.1), u(-0.1, 0.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    gain, bias = u(0.75, 1.25).view(n, 1, 1, 1), u(-0.3, 0.3).view(n, 1, 1, 1)
    # Random erasing (half the samples): occlusions by hands, glasses, compression blocks.
    erase = (torch.rand(n, generator=gen, device=device) < 0.5).view(n, 1, 1, 1)
    ew, eh = u(0.15, 0.4).view(n, 1, 1), u(0.15, 0.4).view(n, 1, 1)
    ex, ey = (u(0, 1).view(n, 1, 1) * (1 - ew)), (u(0, 1).view(n, 1, 1) * (1 - eh))
    out = []
    for view in views:
        grid = F.affine_grid(theta, list(view.shape), align_corners=False)
        v = F.grid_sample(view, grid, mode="bilinear", padding_mode="border", align_corners=False)
        v = v * gain + bias
        s = v.shape[-1]
        coords = (torch.arange(s, device=device).float() + 0.5) / s
        inside_x = (coords.view(1, 1, s) >= ex) & (coords.view(1, 1, s) < ex + ew)  # (n,1,s)
        inside_y = (coords.view(1, s, 1) >= ey) & (coords.view(1, s, 1) < ey + eh)  # (n,s,1)
        box = (inside_y & inside_x).unsqueeze(1) & erase
        out.append(torch.where(box, torch.zeros_like(v), v))
    return out


# -- training ----------------------------------------------------------------------------------------


class Ema:
    """Exponential moving average of every floating-point tensor of a network's state."""

    def __init__(self, net: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].lerp_(v, 1 - self.decay)
            else:
                self.state[k].copy_(v)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k target_k log softmax(logits)_k."""
    return -(target * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s distillation term: KL(teacher_T || student_T) * T^2."""
    t = F.softmax(teacher.float() / temperature, dim=1)
    return (
        F.kl_div(F.log_softmax(student.float() / temperature, dim=1), t, reduction="batchmean")
        * temperature**2
    )


@dataclass
class RunConfig:
    budget_s: float
    batch: int = 256
    lr: float = 0.1
    wd: float = 5e-4
    warmup: float = 0.03
    seed: int = 0
    frozen_batch_norm: bool = False


def _amp(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def fit(
    nets: dict[str, nn.Module],
    loss_fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    data: Tensors,
    index: torch.Tensor,
    cfg: RunConfig,
    views_of: Callable[[torch.Tensor], list[torch.Tensor]],
    forward: Callable[[dict[str, nn.Module], list[torch.Tensor]], dict[str, torch.Tensor]],
) -> tuple[dict[str, Ema], dict[str, float]]:
    """Train `nets` together (one optimiser each) until the budget is spent."""
    device = data.x48.device
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    opts = {
        k: torch.optim.SGD(n.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.wd)
        for k, n in nets.items()
    }
    emas = {k: Ema(n) for k, n in nets.items()}
    for n in nets.values():
        n.train()
        if cfg.frozen_batch_norm:
            freeze_batch_norm(n)
    start, step, last_loss = time.perf_counter(), 0, float("nan")
    batch = min(cfg.batch, len(index))  # a set smaller than one batch would never take a step
    done = False
    while not done:
        order = index[torch.randperm(len(index), generator=gen, device=device)]
        for i in range(0, len(order) - batch + 1, batch):
            p = (time.perf_counter() - start) / cfg.budget_s
            if p >= 1:
                done = True
                break
            lr = cfg.lr * (p / cfg.warmup if p < cfg.warmup else 0.5 * (1 + math.cos(math.pi * p)))
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = lr
            rows = order[i : i + batch]
            with torch.no_grad():
                views = augment(views_of(rows), gen)
            with _amp(device):
                logits = forward(nets, views)
            losses = loss_fn(logits, rows)
            for opt in opts.values():
                opt.zero_grad(set_to_none=True)
            losses.backward()
            for opt in opts.values():
                opt.step()
            for k, n in nets.items():
                emas[k].update(n)
            step += 1
            if step % 50 == 0:
                last_loss = float(losses.detach())
    info = {
        "steps": step,
        "epochs": round(step * batch / len(index), 2),
        "seconds": round(time.perf_counter() - start, 1),
        "last_loss": round(last_loss, 4),
        "batch": batch,
        "lr": cfg.lr,
    }
    return emas, info


# -- scoring -----------------------------------------------------------------------------------------


@torch.no_grad()
def logits_of(net: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Flip-averaged logits, as the exported graph computes them."""
    net.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        with _amp(x.device):
            out.append(((net(xb) + net(torch.flip(xb, dims=[3]))) / 2).float())
    return torch.cat(out)


def score(logits: torch.Tensor, val: Tensors, in_train: torch.Tensor) -> dict[str, Any]:
    pred = logits.argmax(1)
    keep = (val.majority >= 0) & ~in_train
    ferplus = classification_report(val.majority[keep].tolist(), pred[keep].tolist())
    folder = classification_report(val.folder.tolist(), pred.tolist())
    return {
        "ferplus_accuracy": round(ferplus["accuracy"], 4),
        "ferplus_macro_f1": round(ferplus["macro_f1"], 4),
        "ferplus_neutral_recall": ferplus["per_class"]["neutral"]["recall"],
        "ferplus_n": ferplus["n"],
        "folder_accuracy": round(folder["accuracy"], 4),
        "folder_macro_f1": round(folder["macro_f1"], 4),
        "ferplus_per_class": ferplus["per_class"],
    }


def _selection(s: dict[str, Any]) -> float:
    return s["ferplus_accuracy"] + s["ferplus_macro_f1"]


def best_of(
    net: nn.Module, ema: Ema, x: torch.Tensor, val: Tensors, in_train: torch.Tensor
) -> tuple[dict, dict]:
    """Score raw and averaged weights; keep the better (FER+ accuracy + macro-F1) in `net`."""
    raw_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    raw = score(logits_of(net, x), val, in_train)
    net.load_state_dict(ema.state)
    averaged = score(logits_of(net, x), val, in_train)
    if _selection(raw) > _selection(averaged):
        net.load_state_dict(raw_state)
        return raw, {"weights": "raw", "other_ferplus_accuracy": averaged["ferplus_accuracy"]}
    return averaged, {"weights": "ema", "other_ferplus_accuracy": raw["ferplus_accuracy"]}


# -- phases ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    splits = (
        read_pack(args.pack)
        if args.pack
        else read_folder(args.data, args.votes or args.data / "ferplus_votes.csv")
    )
    train, val = to_tensors(splits["train"], device), to_tensors(splits["validation"], device)
    in_train = torch.from_numpy(splits["validation"].in_train).to(device)
    budgets = dict(args.budget)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "train_images": len(train.folder),
        "train_with_soft_target": int(train.usable.sum()),
        "validation_scored_ferplus": int(((val.majority >= 0) & ~in_train).sum()),
        "load_s": round(time.perf_counter() - t0, 1),
        "budget_s": budgets,
        "phases": {},
    }

    def save(name: str, net: nn.Module, metrics: dict[str, Any], half: bool = False) -> None:
        state = {
            k: (v.half() if half and v.dtype.is_floating_point else v).cpu()
            for k, v in net.state_dict().items()
        }
        torch.save(state, out / f"{name}.pt")
        result["phases"][name] = metrics
        (out / "metrics.json").write_text(json.dumps(result, indent=1))
        log.info("%s: %s", name, {k: v for k, v in metrics.items() if k != "ferplus_per_class"})

    all_rows = torch.arange(len(train.folder), device=device)
    soft_rows = all_rows[train.usable]
    counts = torch.bincount(train.folder, minlength=NUM_LABELS).float()
    class_weight = (counts.sum() / counts) ** 0.5
    class_weight = class_weight / (class_weight * counts / counts.sum()).sum()

    def student_views(rows: torch.Tensor) -> list[torch.Tensor]:
        return [train.x40[rows]]

    def single(nets: dict[str, nn.Module], views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: n(views[0]) for k, n in nets.items()}

    def widths_net(widths: tuple[int, ...]) -> nn.Module:
        net = FaceEmotionNet(widths).to(device)
        return net.to(memory_format=torch.channels_last) if device.type == "cuda" else net

    # 1. folder labels vs votes, same network, same budget
    if budgets.get("compare", 0) > 0:
        arms = {
            "folder": ("compare_folder", all_rows),
            "votes": ("compare_votes", soft_rows),
            "mixed": ("compare_mixed", soft_rows),
        }
        for name, rows in (arms[a] for a in args.arms):
            if args.init:
                net = start_net(args.init).to(device)
            else:
                net = widths_net(STUDENTS["s32"])
            if name == "compare_folder":

                def loss(logits: dict, r: torch.Tensor) -> torch.Tensor:
                    return F.cross_entropy(
                        logits["n"].float(), train.folder[r], weight=class_weight, label_smoothing=0.1
                    )
            elif name == "compare_mixed":

                def loss(logits: dict, r: torch.Tensor) -> torch.Tensor:
                    hard = F.cross_entropy(logits["n"].float(), train.folder[r], label_smoothing=0.1)
                    votes = soft_cross_entropy(logits["n"], train.soft[r])
                    return (1 - args.folder_weight) * votes + args.folder_weight * hard
            else:

                def loss(logits: dict, r: torch.Tensor) -> torch.Tensor:
                    return soft_cross_entropy(logits["n"], train.soft[r])

            cfg = RunConfig(
                budgets["compare"],
                batch=args.batch,
                lr=args.lr,
                seed=args.seed,
                frozen_batch_norm=bool(args.init),
            )
            if args.init:
                start_scores = score(logits_of(net, val.x40), val, in_train)
            emas, info = fit({"n": net}, loss, train, rows, cfg, student_views, single)
            metrics, chosen = best_of(net, emas["n"], val.x40, val, in_train)
            extra = {"init": args.init, "init_scores": start_scores} if args.init else {}
            if name == "compare_mixed":
                extra["folder_weight"] = args.folder_weight
            widths = [net.features[i][0].out_channels for i in range(0, len(net.features), 2)]
            save(name, net, {**metrics, **chosen, **info, "widths": widths, **extra})

    # 2. teacher on the votes
    teacher = None
    if budgets.get("teacher", 0) > 0:
        teacher = widths_net(TEACHER_WIDTHS)

        def teacher_views(rows: torch.Tensor) -> list[torch.Tensor]:
            return [train.x48[rows]]

        def teacher_loss(logits: dict, r: torch.Tensor) -> torch.Tensor:
            return soft_cross_entropy(logits["n"], train.soft[r])

        cfg = RunConfig(budgets["teacher"], seed=args.seed + 1)
        emas, info = fit({"n": teacher}, teacher_loss, train, soft_rows, cfg, teacher_views, single)
        metrics, chosen = best_of(teacher, emas["n"], val.x48, val, in_train)
        save(
            "teacher",
            teacher,
            {**metrics, **chosen, **info, "widths": list(TEACHER_WIDTHS), "input": TEACHER_SIZE},
            half=True,
        )

    # 3. students distilled from the teacher and the votes
    if teacher is not None and budgets.get("distil", 0) > 0:
        teacher.eval()
        students = {k: widths_net(w) for k, w in STUDENTS.items()}

        def both_views(rows: torch.Tensor) -> list[torch.Tensor]:
            return [train.x48[rows], train.x40[rows]]

        def distil_forward(nets: dict[str, nn.Module], views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                t = teacher(views[0])
            return {"teacher": t, **{k: n(views[1]) for k, n in nets.items()}}

        def distil_loss(logits: dict, r: torch.Tensor) -> torch.Tensor:
            t = logits["teacher"]
            total = torch.zeros((), device=device)
            for k in STUDENTS:
                s = logits[k]
                total = (
                    total
                    + (1 - KD_WEIGHT) * soft_cross_entropy(s, train.soft[r])
                    + KD_WEIGHT * kd_loss(s, t, KD_TEMPERATURE)
                )
            return total

        cfg = RunConfig(budgets["distil"], seed=args.seed + 2)
        emas, info = fit(students, distil_loss, train, soft_rows, cfg, both_views, distil_forward)
        for k, net in students.items():
            metrics, chosen = best_of(net, emas[k], val.x40, val, in_train)
            save(
                f"distil_{k}",
                net,
                {
                    **metrics,
                    **chosen,
                    **info,
                    "widths": list(STUDENTS[k]),
                    "kd_weight": KD_WEIGHT,
                    "kd_temperature": KD_TEMPERATURE,
                },
            )
    result["total_s"] = round(time.perf_counter() - t0, 1)
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def _budget(text: str) -> list[tuple[str, float]]:
    pairs = []
    for part in text.split(","):
        name, _, seconds = part.partition("=")
        if name not in ("compare", "teacher", "distil"):
            raise argparse.ArgumentTypeError(f"unknown phase {name!r} (compare, teacher, distil)")
        pairs.append((name, float(seconds)))
    return pairs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pack", type=Path, help="a pack written by training.face.ferplus_data")
    src.add_argument("--data", type=Path, help="the fer2013/ folder")
    p.add_argument("--votes", type=Path, help="with --data: default DATA/ferplus_votes.csv")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--budget", type=_budget, default=_budget("compare=55,teacher=170,distil=150"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init", help="ENSEMBLE.onnx:MEMBER or a saved .pt: the compare runs start from that network"
    )
    p.add_argument(
        "--folder-weight", type=float, default=0.3, help="`mixed` arm: weight of the folder-label term"
    )
    p.add_argument(
        "--arms", type=lambda t: t.split(","), default=["folder", "votes"], help="compare arms to run"
    )
    p.add_argument("--batch", type=int, default=256, help="compare runs' batch size")
    p.add_argument("--lr", type=float, default=0.1, help="compare runs' peak learning rate")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = run(build_parser().parse_args(argv))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "phases"}
            | {
                "phases": {
                    k: {m: x for m, x in v.items() if m != "ferplus_per_class"}
                    for k, v in result["phases"].items()
                }
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
