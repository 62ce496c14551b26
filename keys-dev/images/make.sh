#!/usr/bin/env bash
# Draws the development officials' signature images (blue) and the commune seal (red) as
# transparent PNGs: typst (through examples/typst_to_pdf.rs) draws black on white, pdftoppm
# rasterises at 300 dpi in grey, and the darkness of each pixel becomes its alpha over the ink
# colour. FOR DEVELOPMENT ONLY, like everything in keys-dev/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../.ci/env
source .ci/env
cd keys-dev/images
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for name in seal signature-chairman signature-vice-chairman; do
  cargo run -q --example typst_to_pdf -- "$name.typ" "$tmp/$name.pdf"
  pdftoppm -r 300 -gray -singlefile "$tmp/$name.pdf" "$tmp/$name"
  case $name in seal) ink="204 16 24" ;; *) ink="16 40 170" ;; esac
  python3 - "$tmp/$name.pgm" "$name.png" $ink <<'PY'
import struct, sys, zlib
src, dst, r, g, b = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
data = open(src, 'rb').read()
# Binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel.
parts = data.split(maxsplit=4)
w, h, pixels = int(parts[1]), int(parts[2]), parts[4]
rows = b''.join(b'\x00' + b''.join(bytes((r, g, b, 255 - p)) for p in pixels[y * w:(y + 1) * w]) for y in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 6, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b'')
open(dst, 'wb').write(png)
PY
done
ls -l ./*.png
