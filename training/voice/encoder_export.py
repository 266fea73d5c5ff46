"""Convert Resemblyzer's pretrained voice encoder into the ONNX asset our voice front end runs.

    pip download --no-deps resemblyzer==0.1.4 -d /tmp/rz && unzip -o /tmp/rz/*.whl -d /tmp/rz
    python -m training.voice.encoder_export --weights /tmp/rz/resemblyzer/pretrained.pt

The encoder (GE2E speaker-verification LSTM, Apache-2.0, trained by Resemble.AI on thousands of
speakers) is used frozen, as a feature extractor, like the Silero VAD: we train nothing in it. Its
hidden states carry how a voice sounds (timbre, phonation, effort) learnt from far more speakers
than our two emotion corpora have, and emotion changes exactly that. The exported graph pools
them over the utterance (emotion_models/voice/encoder.py says what each output column is), so the
classifier sees a fixed-length vector. This runs once, by hand; the ONNX file is committed, and
training and run time both use it, so the two cannot drift.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import onnx
import torch
from torch import nn

from emotion_models.voice.encoder import (
    DEFAULT_ENCODER,
    ENCODER_FEATURES,
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    ENCODER_VERSION,
    N_ENCODER_MELS,
)

HIDDEN = 256
LAYERS = 3
OPSET = 17


class PooledEncoder(nn.Module):
    """Resemblyzer's LSTM (3 x 256) and projection, pooled: mean of each layer, std of the last, embedding."""

    def __init__(self) -> None:
        super().__init__()
        # One nn.LSTM per layer so every layer's output sequence is available for pooling.
        self.layers = nn.ModuleList(
            nn.LSTM(N_ENCODER_MELS if i == 0 else HIDDEN, HIDDEN, 1, batch_first=True) for i in range(LAYERS)
        )
        self.linear = nn.Linear(HIDDEN, HIDDEN)

    def load_resemblyzer(self, state: dict[str, torch.Tensor]) -> None:
        for i, layer in enumerate(self.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer, f"{name}_l0").data.copy_(state[f"lstm.{name}_l{i}"])
        self.linear.weight.data.copy_(state["linear.weight"])
        self.linear.bias.data.copy_(state["linear.bias"])

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        pooled = []
        hidden = mel
        for layer in self.layers:
            hidden, _ = layer(hidden)
            pooled.append(hidden.mean(dim=1))
        pooled.append(hidden.std(dim=1))
        # Resemblyzer's utterance embedding: ReLU(projection of the last state), unit length.
        embedding = torch.relu(self.linear(hidden[:, -1]))
        pooled.append(embedding / (embedding.norm(dim=1, keepdim=True) + 1e-9))
        return torch.cat(pooled, dim=1)


def export(weights: Path, out: Path) -> str:
    """Write the pooled encoder to `out`; returns its sha256."""
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    model = PooledEncoder()
    model.load_resemblyzer(checkpoint["model_state"])
    model.eval()
    example = torch.rand(1, 200, N_ENCODER_MELS)
    assert model(example).shape == (1, ENCODER_FEATURES)
    torch.onnx.export(
        model,
        (example,),
        str(out),
        input_names=[ENCODER_INPUT],
        output_names=[ENCODER_OUTPUT],
        dynamic_axes={ENCODER_INPUT: {0: "batch", 1: "frames"}, ENCODER_OUTPUT: {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(out))
    source = hashlib.sha256(weights.read_bytes()).hexdigest()
    onnx.helper.set_model_props(
        proto,
        {
            "encoder_version": ENCODER_VERSION,
            "source": f"Resemblyzer 0.1.4 pretrained.pt (sha256 {source}), Apache-2.0, Resemble.AI",
        },
    )
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="resemblyzer/pretrained.pt")
    parser.add_argument("--out", type=Path, default=DEFAULT_ENCODER)
    args = parser.parse_args(argv)
    print(f"{args.out} sha256 {export(args.weights, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
