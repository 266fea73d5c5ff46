"""Voice path: offline VAD, numpy feature front end, ONNX voice-emotion classifier, eval."""
