"""Write a trained classifier as a self-contained ONNX graph: features in, probabilities out.

Graph per `DenseModel`: Gather(selected features) -> Sub(mean) -> Div(scale) -> [Gemm -> Relu]* ->
Gemm -> Softmax. A `DenseEnsemble` is its members side by side, averaged by one Mean node, so the
run-time loader sees the same single input and output either way.
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
from training.voice.models import Classifier, DenseEnsemble, DenseModel

OPSET = 17


def _member_nodes(
    model: DenseModel, prefix: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """One DenseModel from INPUT_NAME to probabilities `output`; every name carries `prefix`."""
    inits = [
        numpy_helper.from_array(model.feature_index.astype(np.int64), f"{prefix}feature_index"),
        numpy_helper.from_array(model.mean.astype(np.float32), f"{prefix}mean"),
        numpy_helper.from_array(model.scale.astype(np.float32), f"{prefix}scale"),
    ]
    nodes = [
        helper.make_node("Gather", [INPUT_NAME, f"{prefix}feature_index"], [f"{prefix}selected"], axis=1),
        helper.make_node("Sub", [f"{prefix}selected", f"{prefix}mean"], [f"{prefix}centred"]),
        helper.make_node("Div", [f"{prefix}centred", f"{prefix}scale"], [f"{prefix}h0"]),
    ]
    for i, (w, b) in enumerate(model.layers):
        inits += [numpy_helper.from_array(w, f"{prefix}w{i}"), numpy_helper.from_array(b, f"{prefix}b{i}")]
        last = i == len(model.layers) - 1
        out = f"{prefix}logits" if last else f"{prefix}z{i}"
        nodes.append(helper.make_node("Gemm", [f"{prefix}h{i}", f"{prefix}w{i}", f"{prefix}b{i}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"{prefix}h{i + 1}"]))
    nodes.append(helper.make_node("Softmax", [f"{prefix}logits"], [output], axis=-1))
    return nodes, inits


def to_onnx(model: Classifier, metadata: dict[str, str], frontend_version: str) -> onnx.ModelProto:
    """Build the ONNX model; metadata values are stored as strings beside labels and the front end
    (`emotion_models.voice.inputs.FrontEnd.version`: what the run-time loader rebuilds)."""
    if isinstance(model, DenseEnsemble):
        nodes, inits, outputs = [], [], []
        for k, member in enumerate(model.members):
            member_nodes, member_inits = _member_nodes(member, f"m{k}_", f"m{k}_probabilities")
            nodes += member_nodes
            inits += member_inits
            outputs.append(f"m{k}_probabilities")
        nodes.append(helper.make_node("Mean", outputs, [OUTPUT_NAME]))
    else:
        nodes, inits = _member_nodes(model, "", OUTPUT_NAME)
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
    meta = {"labels": json.dumps(list(LABELS)), "frontend_version": frontend_version, **metadata}
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    return proto


def save_onnx(model: Classifier, path: Path, metadata: dict[str, str], frontend_version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(model, metadata, frontend_version), str(path))
