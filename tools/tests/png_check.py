#!/usr/bin/env python3
"""png_check.py FILE: exit 0 if FILE is a PNG that decodes (8-bit RGB/RGBA/grey, as gnuplot's
pngcairo writes) and is not blank: at least 4 colours, and at least 1% of the pixels differ
from the most common one (the background). Prints `WxH, N colours, P% drawn`."""
import struct
import sys
import zlib
from collections import Counter


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def main():
    width, height, channels, rows = decode(sys.argv[1])
    pixels = Counter()
    for line in rows:
        for x in range(0, len(line), channels):
            pixels[line[x:x + channels]] += 1
    total = width * height
    drawn = 100.0 * (total - pixels.most_common(1)[0][1]) / total
    print(f"{width}x{height}, {len(pixels)} colours, {drawn:.1f}% drawn")
    return 0 if len(pixels) >= 4 and drawn >= 1.0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, zlib.error, TypeError, struct.error) as e:
        print(f"does not decode: {e}")
        sys.exit(1)
