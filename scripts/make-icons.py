#!/usr/bin/env python3
"""Draw Homeline's icon (a white handset on a blue rounded square) and write
every size the Tauri bundler wants as RGBA PNGs, plus .ico and .icns.

Pure Python (no Pillow): shapes are signed-distance functions, antialiased by
coverage. Run from the repository root: python3 scripts/make-icons.py
"""
import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "icons"


def png(width, height, rgba_rows):
    raw = b"".join(b"\x00" + bytes(row) for row in rgba_rows)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def sd_round_rect(x, y, half, r):
    qx, qy = abs(x) - half + r, abs(y) - half + r
    return math.hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - r


def sd_capsule(x, y, ax, ay, bx, by, r):
    px, py, dx, dy = x - ax, y - ay, bx - ax, by - ay
    h = max(0.0, min(1.0, (px * dx + py * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - dx * h, py - dy * h) - r


def sd_handset(x, y):
    # Coordinates in [-1, 1], y down. The handle is a quarter arc around the
    # top-right; ear and mouth pads point from its ends towards that centre.
    cx, cy, radius, thick = 0.38, -0.38, 0.74, 0.13
    a = math.atan2(y - cy, x - cx) % (2 * math.pi)
    lo, hi = math.radians(90), math.radians(180)
    if lo <= a <= hi:
        d_arc = abs(math.hypot(x - cx, y - cy) - radius) - thick
    else:
        ends = [(cx + radius * math.cos(t), cy + radius * math.sin(t)) for t in (lo, hi)]
        d_arc = min(math.hypot(x - ex, y - ey) for ex, ey in ends) - thick
    ear = sd_capsule(x, y, cx - radius, cy, cx - radius + 0.26, cy, 0.17)
    mouth = sd_capsule(x, y, cx, cy + radius, cx, cy + radius - 0.26, 0.17)
    return min(d_arc, ear, mouth)


def render(size):
    rows = []
    px = 2.0 / size  # one pixel in shape units
    for j in range(size):
        row = bytearray()
        for i in range(size):
            x = (i + 0.5) / size * 2 - 1
            y = (j + 0.5) / size * 2 - 1
            bg = max(0.0, min(1.0, 0.5 - sd_round_rect(x, y, 0.94, 0.36) / px))
            # Diagonal gradient: Homeline blue to teal.
            t = (x + y + 2) / 4
            r, g, b = (int(22 + (14 - 22) * t), int(99 + (165 - 99) * t), int(234 + (190 - 234) * t))
            fg = max(0.0, min(1.0, 0.5 - sd_handset(x * 1.25 + 0.02, y * 1.25 - 0.02) / px))
            r, g, b = (int(r + (255 - r) * fg), int(g + (255 - g) * fg), int(b + (255 - b) * fg))
            row += bytes((r, g, b, int(255 * bg)))
        rows.append(row)
    return png(size, size, rows)


def ico(pngs):
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, data in pngs:
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    return header + entries + blobs


def icns(pngs):
    kinds = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08", 512: b"ic09"}
    body = b"".join(kinds[s] + struct.pack(">I", len(d) + 8) + d for s, d in pngs if s in kinds)
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main():
    OUT.mkdir(exist_ok=True)
    cache = {s: render(s) for s in (16, 24, 32, 48, 64, 128, 256, 512)}
    files = {
        "32x32.png": cache[32], "64x64.png": cache[64], "128x128.png": cache[128],
        "128x128@2x.png": cache[256], "icon.png": cache[512], "tray.png": cache[32],
        "icon.ico": ico([(s, cache[s]) for s in (16, 24, 32, 48, 64, 256)]),
        "icon.icns": icns([(s, cache[s]) for s in (32, 64, 128, 256, 512)]),
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
