#!/usr/bin/env python3
"""Scores received speech against what was sent, as a listener would judge it.

usage: pesq_score.py --mode wb|nb REFERENCE.wav DEGRADED.wav

Both files are brought to the mode's rate (wb: 16 kHz, nb: 8 kHz) with sox,
the degraded one is aligned to the reference by cross-correlation (a call's
recording starts whenever the first packet arrived) and both are trimmed to
the part they share. Prints one JSON object:
  pesq           ITU-T P.862 MOS-LQO (P.862.2 for wb)
  offset_ms      where the reference starts in the degraded file (negative:
                 its first part is missing there)
  overlap_s      the length that was scored
  sent_dbfs, received_dbfs, level_diff_db   RMS levels of the scored parts
Exit status 2 with a sentence on stderr when it cannot score.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

RATES = {"wb": 16000, "nb": 8000}


def fail(message):
    print(f"pesq_score: {message}", file=sys.stderr)
    sys.exit(2)


def read_at(path, rate, tmp):
    """The file as mono 16-bit samples at `rate` (sox does the conversion)."""
    out = os.path.join(tmp, f"{len(os.listdir(tmp))}.wav")
    try:
        subprocess.run(
            ["sox", "-D", path, "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", out],
            check=True, capture_output=True,
        )
    except FileNotFoundError:
        fail("sox is missing: install the Debian package sox (scripts/setup.sh does)")
    except subprocess.CalledProcessError as e:
        fail(f"sox could not read {path}: {e.stderr.decode(errors='replace').strip()}")
    with wave.open(out, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def align(ref, deg):
    """The lag of `deg` behind `ref` with the largest cross-correlation."""
    n = len(ref) + len(deg) - 1
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(deg, size) * np.conj(np.fft.rfft(ref, size)), size)
    # Lags 0..len(deg)-1 sit at the front, negative lags wrap to the end.
    lags = np.concatenate([np.arange(0, len(deg)), np.arange(-(len(ref) - 1), 0)])
    values = np.concatenate([corr[: len(deg)], corr[size - (len(ref) - 1):]])
    return int(lags[int(np.argmax(values))])


def dbfs(x):
    rms = float(np.sqrt(np.mean(np.square(x / 32768.0)))) if len(x) else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else -120.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=sorted(RATES), required=True)
    parser.add_argument("reference")
    parser.add_argument("degraded")
    args = parser.parse_args()
    rate = RATES[args.mode]
    with tempfile.TemporaryDirectory() as tmp:
        ref = read_at(args.reference, rate, tmp)
        deg = read_at(args.degraded, rate, tmp)
    if len(ref) < rate or len(deg) < rate:
        fail(f"too little audio to score (sent {len(ref) / rate:.2f} s, received {len(deg) / rate:.2f} s)")
    if dbfs(deg) < -70:
        fail(f"the received file {args.degraded} is silent")
    lag = align(ref, deg)
    start_ref, start_deg = (0, lag) if lag >= 0 else (-lag, 0)
    length = min(len(ref) - start_ref, len(deg) - start_deg)
    if length < len(ref) // 2:
        fail(f"the received audio holds only {length / rate:.2f} s of the {len(ref) / rate:.2f} s sent")
    ref_part = ref[start_ref:start_ref + length]
    deg_part = deg[start_deg:start_deg + length]
    try:
        from pesq import pesq
    except ImportError:
        fail("the Python package pesq is missing: run scripts/setup.sh")
    try:
        score = float(pesq(rate, ref_part, deg_part, args.mode))
    except Exception as e:  # pesq raises its own error types for unusable input
        fail(f"PESQ could not score the call: {e}")
    sent, received = dbfs(ref_part), dbfs(deg_part)
    print(json.dumps({
        "pesq": round(score, 3),
        "offset_ms": round(lag * 1000.0 / rate, 2),
        "overlap_s": round(length / rate, 3),
        "sent_dbfs": round(sent, 2),
        "received_dbfs": round(received, 2),
        "level_diff_db": round(received - sent, 2),
    }))


if __name__ == "__main__":
    main()
