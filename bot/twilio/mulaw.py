"""G.711 mu-law <-> 16-bit linear PCM with 256/65536-entry numpy tables (no audioop: removed in 3.13).

Decoding follows the ITU-T G.711 reference (bias 0x84, codes stored inverted), so a code decodes to
the same value a phone network's decoder gives; encoding is only used by the test/simulate client.
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _encode_table() -> np.ndarray:
    """uint8 code for every int16 value (indexed by value + 32768)."""
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7  # 0..7 after the bias
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


DECODE = _decode_table()
_ENCODE = _encode_table()


def decode(payload: bytes) -> np.ndarray:
    """mu-law bytes -> int16 PCM at the same rate (one sample per byte)."""
    return DECODE[np.frombuffer(payload, dtype=np.uint8)]


def encode(pcm: np.ndarray) -> bytes:
    """int16 PCM -> mu-law bytes."""
    pcm = np.asarray(pcm, dtype=np.int16)
    return _ENCODE[pcm.astype(np.int32) + 32768].tobytes()
