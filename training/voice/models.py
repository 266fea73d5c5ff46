"""The classifiers compared in training: all are `Dense` stacks over standardised utterance features.

- `baseline`: log-mel means/stds only + multinomial logistic regression (the trivial reference).
  (`steps` below is the optimiser budget of every torch fit, linear or not.)
- `logreg`: all utterance features + multinomial logistic regression.
- `mlp`: all utterance features + one hidden layer (ReLU, dropout, input noise), weighted cross-entropy.

A `DenseEnsemble` averages the probabilities of several such models (train.py builds the `mlp-ens+spk`
approach from it).

Every model ends as a list of affine layers with ReLU between them, which is what the ONNX export
writes and what `predict_proba` evaluates (numpy, the same arithmetic as the exported graph).
Classes absent from the training data get a constant very low logit: the model never predicts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emotion_models.labels import NUM_LABELS
from emotion_models.voice.features import BASELINE_FEATURES, NUM_FEATURES

UNSEEN_LOGIT = -30.0  # logit of a class never seen in training: probability ~1e-13


@dataclass(frozen=True)
class DenseModel:
    """Standardisation + affine layers (ReLU between) over a selection of the utterance features."""

    input_width: int  # model input columns: NUM_INPUTS, or 2x for a speaker-normalised model
    feature_index: np.ndarray  # which input columns are used
    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]  # (in, out) weight, (out,) bias

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (features[:, self.feature_index] - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        z = self.logits(features)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class DenseEnsemble:
    """Several `DenseModel`s over the same inputs; the prediction is the mean of their probabilities."""

    members: tuple[DenseModel, ...]

    def __post_init__(self) -> None:
        if not self.members or len({m.input_width for m in self.members}) != 1:
            raise ValueError("an ensemble needs members with one input width")

    @property
    def input_width(self) -> int:
        return self.members[0].input_width

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_proba(features) for m in self.members], axis=0).astype(np.float32)


Classifier = DenseModel | DenseEnsemble


def sample_weights(labels: np.ndarray, corpora: np.ndarray) -> np.ndarray:
    """Each (corpus, class) cell gets the same total weight: corpora weigh equally, classes too.

    Without this, nEMO (4.5k clips) would drown EmoDB (350), and EmoDB's 46 disgust clips would
    either vanish or, with plain class balancing, be up-weighted a hundredfold.
    """
    weights = np.zeros(len(labels), dtype=np.float64)
    cells = {(c, y) for c, y in zip(corpora, labels, strict=True)}
    for c, y in cells:
        mask = (corpora == c) & (labels == y)
        weights[mask] = 1.0 / mask.sum()
    return weights * len(labels) / weights.sum()


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-6, scale, 1.0)


def _standardised_inputs(
    x: np.ndarray, feature_index: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Generator]:
    """The selected columns standardised as a tensor, their (mean, scale), and seeded randomness."""
    xs = x[:, feature_index]
    mean, scale = _standardise(xs)
    torch.manual_seed(seed)
    xt = torch.from_numpy(((xs - mean) / scale).astype(np.float32))
    return mean, scale, xt, torch.Generator().manual_seed(seed)


def _full_output(w: np.ndarray, b: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scatter per-seen-class weights into NUM_LABELS columns; unseen columns get UNSEEN_LOGIT.

    Training masks unseen classes, so the seen logits share a free common offset that can drift
    below UNSEEN_LOGIT. Centring them (per input, the seen logits then sum to zero, so the largest
    is >= 0) changes no seen-class probability and keeps unseen ones at ~1e-13.
    """
    w = w - w.mean(axis=1, keepdims=True)
    b = b - b.mean()
    full_w = np.zeros((w.shape[0], NUM_LABELS), dtype=np.float32)
    full_b = np.full(NUM_LABELS, UNSEEN_LOGIT, dtype=np.float32)
    full_w[:, classes] = w
    full_b[classes] = b
    return full_w, full_b


def _train_torch(
    net: torch.nn.Module,
    xt: torch.Tensor,
    y: np.ndarray,
    weights: np.ndarray,
    steps: int,
    gen: torch.Generator,
    *,
    lr: float,
    weight_decay: float,
    input_noise: float,
    label_smoothing: float,
    l2: float,
) -> np.ndarray:
    """Weighted cross-entropy with AdamW on a one-cycle schedule; returns the classes seen.

    The schedule is a number of optimiser steps (whole epochs, at least `steps`), so a small corpus
    gets many epochs and the full augmented set a few, for about the same compute.
    """
    yt = torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy(weights.astype(np.float32))
    seen = torch.zeros(NUM_LABELS, dtype=torch.bool)
    seen[yt.unique()] = True
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    batch = 256
    per_epoch = (len(xt) + batch - 1) // batch
    epochs = max(1, -(-steps // per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch)
    penalised = [p for name, p in net.named_parameters() if name.endswith("weight")]
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch):
            idx = order[start : start + batch]
            inputs = xt[idx]
            if input_noise > 0:
                inputs = inputs + input_noise * torch.randn(len(idx), xt.shape[1], generator=gen)
            logits = net(inputs).masked_fill(~seen, -1e4)
            loss = torch.nn.functional.cross_entropy(
                logits, yt[idx], reduction="none", label_smoothing=label_smoothing
            )
            loss = (loss * wt[idx]).sum() / wt[idx].sum()
            if l2 > 0:
                loss = loss + l2 * sum((p**2).sum() for p in penalised)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return np.flatnonzero(seen.numpy())


def _affine(layer: torch.nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    return layer.weight.detach().numpy().T.astype(np.float32), layer.bias.detach().numpy().astype(np.float32)


def fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    feature_index: np.ndarray,
    steps: int = 800,
    seed: int = 0,
    l2: float = 1e-3,
) -> DenseModel:
    """Multinomial logistic regression with an L2 penalty, fitted by minibatch Adam.

    (sklearn's lbfgs reaches the same optimum but costs several times more CPU on 27k rows, and
    this machine's CPU is the scarce resource.)
    """
    mean, scale, xt, gen = _standardised_inputs(x, feature_index, seed)
    linear = torch.nn.Linear(xt.shape[1], NUM_LABELS)
    classes = _train_torch(
        linear,
        xt,
        y,
        weights,
        steps,
        gen,
        lr=1e-2,
        weight_decay=0.0,
        input_noise=0.0,
        label_smoothing=0.0,
        l2=l2,
    )
    w, b = _affine(linear)
    w, b = _full_output(w[:, classes], b[classes], classes)
    return DenseModel(x.shape[1], feature_index, mean.astype(np.float32), scale.astype(np.float32), [(w, b)])


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    feature_index: np.ndarray,
    hidden: int = 256,
    steps: int = 800,
    seed: int = 0,
) -> DenseModel:
    """One hidden layer, trained with AdamW, dropout, Gaussian input noise and label smoothing."""
    mean, scale, xt, gen = _standardised_inputs(x, feature_index, seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(hidden, NUM_LABELS),
    )
    classes = _train_torch(
        net,
        xt,
        y,
        weights,
        steps,
        gen,
        lr=2e-3,
        weight_decay=1e-2,
        input_noise=0.15,
        label_smoothing=0.1,
        l2=0.0,
    )
    w2, b2 = _affine(net[3])
    w2, b2 = _full_output(w2[:, classes], b2[classes], classes)
    return DenseModel(
        x.shape[1],
        feature_index,
        mean.astype(np.float32),
        scale.astype(np.float32),
        [_affine(net[0]), (w2, b2)],
    )


BASELINE_INDEX = np.arange(NUM_FEATURES)[BASELINE_FEATURES]


def fit(
    approach: str, x: np.ndarray, y: np.ndarray, corpora: np.ndarray, seed: int = 0, steps: int = 800
) -> DenseModel:
    """Train one of APPROACHES on rows x (N, NUM_INPUTS or 2x with speaker features), labels y.

    `baseline` always uses the raw log-mel statistics (among the first NUM_FEATURES columns).
    """
    weights = sample_weights(y, corpora)
    every_column = np.arange(x.shape[1])
    if approach == "baseline":
        return fit_logreg(x, y, weights, BASELINE_INDEX, steps=steps, seed=seed)
    if approach == "logreg":
        return fit_logreg(x, y, weights, every_column, steps=steps, seed=seed)
    if approach == "mlp":
        return fit_mlp(x, y, weights, every_column, steps=steps, seed=seed)
    raise ValueError(f"unknown approach {approach!r}; known: {APPROACHES}")


APPROACHES: tuple[str, ...] = ("baseline", "logreg", "mlp")
