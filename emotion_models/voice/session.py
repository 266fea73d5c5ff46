"""One way to open the voice path's ONNX models (VAD, encoder, classifier) for CPU inference."""

from __future__ import annotations

import onnxruntime as ort


def cpu_session(model: str | bytes, threads: int = 1) -> ort.InferenceSession:
    """An InferenceSession on `threads` intra-op threads that sleep when idle.

    Many participants' streams share a few cores, so idle onnxruntime threads must not spin (the
    default burns a core waiting for the next call).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
