"""Start a FaceEmotionNet from one member of the shipped ensemble instead of from random weights.

Why: on a 2-core CPU a member took ~100 min to train from scratch; starting from one that already
sees faces leaves the whole budget to learning the FER+ vote distributions. The member's float32
graph comes from `training.face.recover_member` (int8 rounding kept). Its convolutions had their
batch norm folded in at export, so each BatchNorm2d here is set to the identity plus the folded
bias (running mean 0, running variance 1 - eps, weight 1): in eval mode the network computes
exactly what the member computed. Fine-tuning keeps those statistics frozen (`freeze_batch_norm`)
so the starting function is not disturbed by batch statistics.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from torch import nn

from training.face.net import FaceEmotionNet
from training.face.recover_member import extract_member


def member_net(ensemble: Path, member: int, dropout: float = 0.4) -> FaceEmotionNet:
    graph = extract_member(onnx.load(str(ensemble)), member).graph
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    convs: list[tuple[torch.Tensor, torch.Tensor]] = []
    seen: set[str] = set()
    head: tuple[torch.Tensor, torch.Tensor] | None = None
    for node in graph.node:  # the flipped view reuses the same weights: keep first appearances
        if node.op_type == "Conv" and node.input[1] not in seen:
            seen.add(node.input[1])
            convs.append((values[node.input[1]], values[node.input[2]]))
        elif node.op_type == "Gemm" and head is None:
            head = (values[node.input[1]], values[node.input[2]])
    if head is None or len(convs) % 2:
        raise ValueError(f"member {member} of {ensemble} is not a FaceEmotionNet graph")
    widths = tuple(w.shape[0] for w, _ in convs[::2])
    net = FaceEmotionNet(widths, dropout=dropout)
    conv_layers = [m for m in net.features.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.features.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(conv_layers) != len(convs):
        raise ValueError(f"{len(convs)} convolutions in the graph, {len(conv_layers)} in the network")
    with torch.no_grad():
        for conv, norm, (weight, bias) in zip(conv_layers, norms, convs, strict=True):
            conv.weight.copy_(weight)
            norm.weight.fill_(1.0)
            norm.bias.copy_(bias)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        linear = net.head[-1]
        assert isinstance(linear, nn.Linear)
        linear.weight.copy_(head[0])
        linear.bias.copy_(head[1])
    return net


def saved_net(path: Path) -> FaceEmotionNet:
    """A network from a state dict written by training.face.ferplus_train (fp16 entries widened)."""
    state = torch.load(path, map_location="cpu")
    state = {k: v.float() if v.dtype.is_floating_point else v for k, v in state.items()}
    # widths from the first conv of each stage: features.{0,2,4,6}.0.weight
    stages = sorted(
        {int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".0.weight")}
    )
    net = FaceEmotionNet(tuple(int(state[f"features.{i}.0.weight"].shape[0]) for i in stages))
    net.load_state_dict(state)
    return net


def start_net(spec: str) -> FaceEmotionNet:
    """`ENSEMBLE.onnx:MEMBER` (member_net) or a saved state dict `RUN/compare_votes.pt` (saved_net)."""
    if spec.endswith(".pt"):
        return saved_net(Path(spec))
    ensemble, _, member = spec.rpartition(":")
    if not ensemble or not member.isdigit():
        raise ValueError(f"--init {spec!r}: expected ENSEMBLE.onnx:MEMBER or a .pt state dict")
    return member_net(Path(ensemble), int(member))


def freeze_batch_norm(net: nn.Module) -> None:
    """Batch norm layers use (and keep) their running statistics; their affine terms still learn."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
