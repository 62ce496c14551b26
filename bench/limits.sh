#!/usr/bin/env bash
# Resource limits (issue 12): builds the hostile shapes at full size — 2,000 xref-stream entries
# all pointing at one 100 KB array, an object stream of 250,000 nulls followed by 20 updates, a
# 256 KB file declaring 60 million entries (as a stream and as a table), a ~1 MB xref-stream
# decompression bomb (800 MB of zeros), a 4 MB file whose object stream inflates to 400 MB — each
# alone and appended after a kyso signature, and runs the release `kyso verify` on each under
# /usr/bin/time -v. Prints exit code, peak RSS against 64 MB + 3 x the size, seconds against
# 1 s per MB, and the first line kyso wrote to stderr (the limit it names).
#   bench/limits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
cargo build -q --release --bin kyso
KYSO=$CARGO_TARGET_DIR/release/kyso
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$KYSO" --dev sign --key keys-dev/chairman-rsa.key.pem --cert keys-dev/chairman-rsa.pem \
  --chain keys-dev/intermediate-ca.pem "$KYSO_SHARED/fixtures/external/pyhanko/unsigned.pdf" \
  -o "$WORK/signed.pdf" >/dev/null

python3 - "$WORK" <<'PY'
import os, re, struct, sys, zlib
work = sys.argv[1]
signed = open(os.path.join(work, "signed.pdf"), "rb").read()

def base():
    out = bytearray(b"%PDF-1.7\n")
    offs = []
    for i, o in enumerate([b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
                           b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>",
                           b"<</Length 8>>stream\nBT ET q\nendstream"], 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    return out, offs

def xref_stream(out, num, rows, index, size, extra=b"", raw=None, flate=False):
    at = len(out)
    data = raw if raw is not None else b"".join(struct.pack(">BII", t, a, b) for t, a, b in rows)
    filt = b""
    if flate:
        data, filt = zlib.compress(data, 9), b"/Filter/FlateDecode"
    out += b"%d 0 obj\n<</Type/XRef/Size %d/Root 1 0 R/W[1 4 4]/Index[%s]/Length %d%s%s>>stream\n" % (
        num, size, index, len(data), filt, extra) + data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at
    return out

def after_signature(body_objects, rows_for):
    """Appends objects after the signed file, closed by an xref stream (rows_for(offsets))."""
    out = bytearray(signed)
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
    size = int(re.findall(rb"/Size (\d+)", signed)[-1])
    root = re.findall(rb"/Root (\d+ \d+) R", signed)[-1]
    offs = []
    for i, o in enumerate(body_objects):
        offs.append(len(out))
        out += b"%d 0 obj\n" % (size + i) + o + b"\nendobj\n"
    rows, index, total = rows_for(size, offs, len(out))
    return fix_root(xref_stream(out, total - 1, rows, index, total, extra=b"/Prev %d" % prev), root)

def fix_root(out, root):
    i = out.rfind(b"/Root 1 0 R")
    return out[:i] + b"/Root " + root + b" R" + out[i + 11:]

def write(name, data):
    open(os.path.join(work, name + ".pdf"), "wb").write(bytes(data))

# 1. Fan-out: 2,000 entries at one 100 KB array.
array = b"[" + b"0 " * 50000 + b"]"
out, offs = base()
arr_at = len(out)
out += b"5 0 obj\n" + array + b"\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, arr_at, 0)] * 2000
rows.append((1, len(out), 0))
write("fanout", xref_stream(out, len(rows) - 1, rows, b"0 %d" % len(rows), len(rows)))
def fan_rows(size, offs, end):
    rows = [(1, offs[0], 0)] + [(1, offs[0], 0)] * 2000 + [(1, end, 0)]
    return rows, b"%d %d" % (size, len(rows)), size + len(rows)
write("fanout-signed", after_signature([array], fan_rows))

# 2. 250,000 nulls in an object stream, then 20 xref-only updates.
n = 250000
head = b"".join(b"%d %d " % (6 + i, 5 * i) for i in range(n))
stm = zlib.compress(head + b"null " * n, 9)
out, offs = base()
stm_at = len(out)
out += b"5 0 obj\n<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>stream\n" % (n, len(head), len(stm)) + stm + b"\nendstream\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, stm_at, 0)] + [(2, 5, i) for i in range(n)]
num = len(rows)
rows.append((1, len(out), 0))
out = xref_stream(out, num, rows, b"0 %d" % len(rows), len(rows), flate=True)
for _ in range(20):
    prev = int(re.findall(rb"startxref\s+(\d+)", out)[-1])
    num += 1
    out = xref_stream(out, num, [(1, len(out), 0)], b"%d 1" % num, num + 1, extra=b"/Prev %d" % prev)
write("nulls-20-updates", out)

# 3. Sixty million declared entries (256 KB files).
out, offs = base()
out += b"%" + b"x" * (256 * 1024) + b"\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, len(out), 0)]
write("sixty-million-stream", xref_stream(out, 5, rows, b"0 60000000", 60000000))
out, offs = base()
at = len(out)
out += b"xref\n0 60000000\n0000000000 65535 f \n" + b"0000000009 00000 n \n" * 13000
out += b"trailer\n<</Size 60000000/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % at
write("sixty-million-table", out)

# 4. An xref-stream decompression bomb: 800 MB of zeros, alone and after a signature.
z = zlib.compressobj(9)
bomb = b"".join(z.compress(b"\0" * (1 << 20)) for _ in range(800)) + z.flush()
out, offs = base()
write("xref-bomb", xref_stream(out, 5, None, b"0 6", 6, raw=bomb, extra=b"/Filter/FlateDecode"))
out = bytearray(signed)
prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
size = int(re.findall(rb"/Size (\d+)", signed)[-1])
root = re.findall(rb"/Root (\d+ \d+) R", signed)[-1]
out = fix_root(xref_stream(out, size, None, b"%d 1" % size, size + 1, raw=bomb,
                           extra=b"/Filter/FlateDecode/Prev %d" % prev), root)
write("xref-bomb-signed", out)

# 5. A 4 MB file whose object stream inflates to 400 MB.
z = zlib.compressobj(9)
objbomb = b"".join(z.compress(b"null " * (1 << 18)) for _ in range(320)) + z.flush()
out, offs = base()
out += b"%" + b"x" * (4 << 20) + b"\n"
stm_at = len(out)
out += b"5 0 obj\n<</Type/ObjStm/N 1/First 4/Filter/FlateDecode/Length %d>>stream\n" % len(objbomb) + objbomb + b"\nendstream\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, stm_at, 0), (2, 5, 0), (1, len(out), 0)]
write("objstm-bomb", xref_stream(out, 7, rows, b"0 8", 8))
PY

printf '%-24s %9s %4s %10s %10s %7s %7s  %s\n' shape bytes exit "peak MB" "bound MB" seconds "bound" "stderr (first line)"
for f in fanout fanout-signed nulls-20-updates sixty-million-stream sixty-million-table \
         xref-bomb xref-bomb-signed objstm-bomb; do
  pdf=$WORK/$f.pdf
  size=$(stat -c %s "$pdf")
  set +e
  /usr/bin/time -v "$KYSO" --dev verify --trust keys-dev/root-ca.pem "$pdf" >/dev/null 2>"$WORK/err"
  set -e
  code=$(grep 'Exit status' "$WORK/err" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$WORK/err" | awk '{print $NF}')
  wall=$(grep 'Elapsed (wall clock)' "$WORK/err" | awk '{print $NF}')
  first=$(grep -v -E '^\s|Command being timed|Command exited' "$WORK/err" | head -1 | cut -c1-110 | tr -d "'")
  python3 -c "
size=$size; rss=$rss*1024
m, s = '$wall'.split(':')[-2:]; secs = int(m) * 60 + float(s)
print(f'%-24s %9d %4s %10.1f %10.1f %7.2f %7.2f  %s' % ('$f', size, '$code', rss/1e6, (64e6 + 3*size)/1e6, secs, max(size/1e6, 0.0), '''$first'''))
" 2>/dev/null || echo "$f $size $code $rss $wall $first"
done
