"""Recover one member's float32 graph from an int8 ensemble written by training.face.ensemble.

    python -m training.face.recover_member --ensemble OLD/face_emotion.onnx --member 1 \
        --out runs/face-s1/face_emotion.onnx

Why: a member's own float32 file lives in runs/ on the machine that trained it, and machines do not
outlive a session; the shipped ensemble is the only durable copy. Growing the ensemble means
re-merging and re-quantising every member from float32, so each member is rebuilt from that copy:
per-channel int8 weights are dequantised (their rounding stays: the recovered member scores within
a few hundredths of a point of the original, measured in the model card), activation quantise/
dequantise pairs are removed, and the ReLUs the quantiser folded into uint8 activations
(zero point 0 clamps negatives) are put back.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import onnx
import onnx.shape_inference
import onnx.utils
from onnx import helper, numpy_helper

from training.face.ensemble import INPUT, OUTPUT

log = logging.getLogger(__name__)


def _dequantised(quantised: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    if scale.size > 1:  # per-channel: broadcast along the quantisation axis
        shape = [1] * quantised.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    values = (quantised.astype(np.float64) - zero_point.astype(np.float64)) * scale.astype(np.float64)
    return values.astype(np.float32)


def dequantise(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float32 graph of a QDQ model: constant weights dequantised, activation Q/DQ pairs removed."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # the rewiring below edits nodes in place
    graph = copy.graph
    initializers = {t.name: t for t in graph.initializer}
    constants: dict[str, onnx.TensorProto] = {}
    alias: dict[str, str] = {}  # a removed node's output -> the tensor that now stands for it
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(node)
            continue
        zero_point = (
            numpy_helper.to_array(initializers[node.input[2]])
            if len(node.input) > 2 and node.input[2]
            else np.zeros((), np.uint8)  # ONNX's default zero point
        )
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            values = _dequantised(
                numpy_helper.to_array(initializers[node.input[0]]),
                numpy_helper.to_array(initializers[node.input[1]]),
                zero_point,
                axis,
            )
            constants[node.output[0]] = numpy_helper.from_array(values, node.output[0])
        elif node.op_type == "QuantizeLinear" and zero_point.dtype == np.uint8 and not zero_point.any():
            # uint8 with zero point 0 cannot hold negatives: this is where a ReLU was folded away.
            relu = f"{node.output[0]}/relu"
            nodes.append(helper.make_node("Relu", [node.input[0]], [relu]))
            alias[node.output[0]] = relu
        else:
            alias[node.output[0]] = node.input[0]

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for node in nodes:
        node.input[:] = [resolve(name) for name in node.input]
    available = {**initializers, **constants}
    used = sorted({name for node in nodes for name in node.input if name in available})
    float_graph = helper.make_graph(
        nodes, graph.name, list(graph.input), list(graph.output), [available[name] for name in used]
    )
    out = helper.make_model(float_graph, opset_imports=list(model.opset_import))
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def extract_member(ensemble: onnx.ModelProto, member: int) -> onnx.ModelProto:
    """Member `member` of a merged ensemble as a stand-alone face model (pixels -> probabilities)."""
    float_graph = dequantise(ensemble)  # a float ensemble has no Q/DQ nodes: it comes back as it is
    floor = f"m{member}/floored"  # training.face.ensemble.merge floors each member's probabilities
    node = next((n for n in float_graph.graph.node if n.op_type == "Max" and n.output[0] == floor), None)
    if node is None:
        raise ValueError(f"no member {member} in this ensemble (no {floor!r} node)")
    # The extractor finds the member's output among the inferred value infos.
    inferred = onnx.shape_inference.infer_shapes(float_graph)
    extracted = onnx.utils.Extractor(inferred).extract_model([INPUT], [node.input[0]])
    probabilities = extracted.graph.output[0].name
    for n in extracted.graph.node:
        n.output[:] = [OUTPUT if name == probabilities else name for name in n.output]
    extracted.graph.output[0].name = OUTPUT
    onnx.checker.check_model(extracted)
    return extracted


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ensemble", required=True, help="an ONNX file written by training.face.ensemble")
    ap.add_argument("--member", type=int, required=True, help="the member's index (0, 1, ...)")
    ap.add_argument("--out", required=True, help="where to write the member's float32 ONNX file")
    args = ap.parse_args(argv)
    member = extract_member(onnx.load(args.ensemble), args.member)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(member, str(out))
    log.info("member %d of %s -> %s (%d nodes)", args.member, args.ensemble, out, len(member.graph.node))


if __name__ == "__main__":
    main()
