"""Write a trained `DenseModel` as a self-contained ONNX graph: features in, probabilities out.

Graph: Gather(selected features) -> Sub(mean) -> Div(scale) -> [Gemm -> Relu]* -> Gemm -> Softmax.
Metadata records the label order and the feature front-end version, which the run-time loader checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from emotion_models.labels import LABELS
from emotion_models.voice.classifier import INPUT_NAME, OUTPUT_NAME
from emotion_models.voice.features import FRONTEND_VERSION
from training.voice.models import DenseModel

OPSET = 17


def to_onnx(model: DenseModel, metadata: dict[str, str]) -> onnx.ModelProto:
    """Build the ONNX model; metadata values are stored as strings beside labels and front end."""
    inits = [
        numpy_helper.from_array(model.feature_index.astype(np.int64), "feature_index"),
        numpy_helper.from_array(model.mean.astype(np.float32), "mean"),
        numpy_helper.from_array(model.scale.astype(np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Gather", [INPUT_NAME, "feature_index"], ["selected"], axis=1),
        helper.make_node("Sub", ["selected", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["h0"]),
    ]
    for i, (w, b) in enumerate(model.layers):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(model.layers) - 1
        out = "logits" if last else f"z{i}"
        nodes.append(helper.make_node("Gemm", [f"h{i}", f"w{i}", f"b{i}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
    nodes.append(helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], axis=-1))
    graph = helper.make_graph(
        nodes,
        "voice_emotion",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", model.input_width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", len(LABELS)])],
        inits,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emotion-bot"
    )
    proto.ir_version = 9
    meta = {"labels": json.dumps(list(LABELS)), "frontend_version": FRONTEND_VERSION, **metadata}
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    return proto


def save_onnx(model: DenseModel, path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(model, metadata), str(path))
