"""emotion-bot: per-speaker emotion analysis for calls (see README.md and ARCHITECTURE.md)."""

import os

# One BLAS thread per process, set before anything imports numpy. The bot's parallelism is its
# pipeline threads (event loop, face, voice and VAD threads); numpy's matrices here are small, and
# OpenBLAS's extra worker spin-waits between them: at 40 Twilio calls it burnt 70 % of a core
# for nothing (serve 157 % -> 97 % of one core without it). Set the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
