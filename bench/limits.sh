#!/usr/bin/env bash
# Resource limits (issue 12): builds the hostile shapes at full size — 2,000 xref-stream entries
# all pointing at one 100 KB array, an object stream of 250,000 nulls followed by 20 updates, a
# 256 KB file declaring 60 million entries (as a stream and as a table), a ~1 MB xref-stream
# decompression bomb (800 MB of zeros), a 4 MB file whose object stream inflates to 400 MB (alone
# and after a signature), 12,000 small object streams, object streams each holding one 15 MB
# string, an array nested 100,000 deep, 200 revisions each re-listing 20,000 objects, 60 chained
# sections of 130,000 free entries, a DSS listing one 2 MB-inflating stream 3,000 times, a new
# signature widget whose appearance inflates to 400 MB and one holding 1.6 million operands — and
# runs the release `kyso verify` on each under /usr/bin/time -v. Prints exit code, peak RSS against
# 64 MB + 3 x the size, seconds against 1 s per MB, and the first line kyso wrote to stderr (the
# limit it names); the last line says whether every shape stayed within both bounds.
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
def objstm_bomb_rows(size, offs, end):
    rows = [(1, offs[0], 0), (2, size, 0), (1, end, 0)]
    return rows, b"%d 3" % size, size + 3
write("objstm-bomb-signed", after_signature(
    [b"<</Type/ObjStm/N 1/First 4/Filter/FlateDecode/Length %d>>stream\n" % len(objbomb) + objbomb
     + b"\nendstream"], objstm_bomb_rows))

def objstm(n_first, objs, flate=True):
    head = b""
    body = b""
    for i, o in enumerate(objs):
        head += b"%d %d " % (n_first + i, len(body))
        body += o + b" "
    data = head + body
    if flate:
        data = zlib.compress(data, 9)
    return b"<</Type/ObjStm/N %d/First %d%s/Length %d>>stream\n" % (
        len(objs), len(head), b"/Filter/FlateDecode" if flate else b"", len(data)) + data + b"\nendstream"

def with_streams(streams, per):
    """A small file plus object streams (numbers 5..), each holding `per` objects numbered after them."""
    out, offs = base()
    rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs]
    first_obj = 5 + len(streams)
    stm_rows = []
    obj_rows = []
    for k, make in enumerate(streams):
        stm_rows.append((1, len(out), 0))
        out += b"%d 0 obj\n" % (5 + k) + make(first_obj + k * per) + b"\nendobj\n"
        obj_rows += [(2, 5 + k, i) for i in range(per)]
    rows += stm_rows + obj_rows
    rows.append((1, len(out), 0))
    return xref_stream(out, len(rows) - 1, rows, b"0 %d" % len(rows), len(rows), flate=True)

# 6. Many small object streams: 12,000 of 10 small arrays each.
write("many-objstms", with_streams([lambda f: objstm(f, [b"[1 2 3 4 5 6 7 8]"] * 10)] * 12000, 10))
# 7. Object streams each holding one 15 MB string (15 KB compressed each).
big = b"(" + b"a" * (15 << 20) + b")"
big_stm = objstm(0, [big])
write("strings-objstm", with_streams([lambda f: objstm(f, [big])] * 12, 1))
# 8. An array nested 100,000 deep, in the file.
out, offs = base()
at = len(out)
out += b"5 0 obj\n" + b"[" * 100000 + b"]" * 100000 + b"\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, at, 0), (1, len(out), 0)]
write("deep-nesting", xref_stream(out, 6, rows, b"0 7", 7))
# 9. 20,000 objects, then 200 xref-only updates (each revision re-lists them all through /Prev).
out, offs = base()
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs]
for i in range(20000):
    rows.append((1, len(out), 0))
    out += b"%d 0 obj\n[%d]\nendobj\n" % (5 + i, i)
num = len(rows)
rows.append((1, len(out), 0))
out = xref_stream(out, num, rows, b"0 %d" % len(rows), len(rows), flate=True)
for _ in range(200):
    prev = int(re.findall(rb"startxref\s+(\d+)", out)[-1])
    num += 1
    out = xref_stream(out, num, [(1, len(out), 0)], b"%d 1" % num, num + 1, extra=b"/Prev %d" % prev)
write("many-revisions", out)
# 10. 60 chained cross-reference streams of 130,000 free entries each (W [1 0 0]).
out, offs = base()
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs]
prev = None
num = 5
for k in range(60):
    at = len(out)
    n = 130000
    first = 6 + k * n
    data = zlib.compress(b"\0" * n, 9)
    extra = b"" if prev is None else b"/Prev %d" % prev
    out += b"%d 0 obj\n<</Type/XRef/Size %d/Root 1 0 R/W[1 0 0]/Index[%d %d]/Filter/FlateDecode/Length %d%s>>stream\n" % (
        num + k, first + n, first, n, len(data), extra) + data + b"\nendstream\nendobj\n"
    prev = at
tail_rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, len(out), 0)]
out = xref_stream(out, 5, tail_rows, b"0 6", first + n, extra=b"/Prev %d" % prev)
write("free-entries", out)

def last_definition(num):
    """The text of the last definition of object `num` in the signed file, between obj and endobj."""
    starts = [m.end() for m in re.finditer(rb"(?:^|\n)%d 0 obj" % num, signed)]
    return signed[starts[-1]:signed.index(b"endobj", starts[-1])].strip()

def after_signature_objects(objs, redefine):
    """Appends `objs` (numbered from the signed file's /Size; callables get that number) after
    the signed file, plus the objects `redefine(size)` returns as {number: text}, closed by a table."""
    out = bytearray(signed)
    prev = int(re.findall(rb"startxref\s+(\d+)", signed)[-1])
    size = int(re.findall(rb"/Size (\d+)", signed)[-1])
    root = re.findall(rb"/Root (\d+) 0 R", signed)[-1]
    entries = []
    for i, o in enumerate(objs):
        entries.append((size + i, len(out)))
        out += b"%d 0 obj\n" % (size + i) + (o(size) if callable(o) else o) + b"\nendobj\n"
    for n, text in redefine(size).items():
        entries.append((n, len(out)))
        out += b"%d 0 obj\n" % n + text + b"\nendobj\n"
    at = len(out)
    text = b"xref\n"
    for n, o in entries:
        text += b"%d 1\n%010d 00000 n \n" % (n, o)
    text += b"trailer\n<</Size %d/Root %s 0 R/Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
        size + len(objs), root, prev, at)
    return bytes(out + text)

root_num = int(re.findall(rb"/Root (\d+) 0 R", signed)[-1])
acroform_num = int(re.search(rb"/AcroForm (\d+) 0 R", last_definition(root_num)).group(1))

# 11. A DSS listing one stream that inflates to 2 MB, 1,000 times in each of its three arrays.
z = zlib.compressobj(9)
crl = z.compress(b"\0" * (2 << 20)) + z.flush()
def with_dss(size):
    refs = b" ".join(b"%d 0 R" % size for _ in range(1000))
    cat = last_definition(root_num)
    return {root_num: cat[:-2] + b"/DSS<</Certs[%s]/OCSPs[%s]/CRLs[%s]>>>>" % (refs, refs, refs)}
write("dss-bomb", after_signature_objects(
    [b"<</Filter/FlateDecode/Length %d>>stream\n" % len(crl) + crl + b"\nendstream"], with_dss))

# 12-13. A new (unsigned) signature field whose appearance inflates to 400 MB, and one whose
# appearance holds 1.6 million operands before any operator.
z = zlib.compressobj(9)
paint = b"".join(z.compress(b"0 0 m 1 1 l S\n" * (1 << 16)) for _ in range(440)) + z.flush()
operands = zlib.compress(b"[" + b"0 " * 1600000 + b"]", 9)
def with_field(size):
    af = last_definition(acroform_num)
    return {acroform_num: af.replace(b"/Fields[", b"/Fields[%d 0 R " % (size + 1), 1)}
for name, data in (("ap-bomb", paint), ("ap-operands", operands)):
    ap = (b"<</Type/XObject/Subtype/Form/BBox[0 0 595 842]/Filter/FlateDecode/Length %d>>stream\n"
          % len(data) + data + b"\nendstream")
    widget = lambda size: (b"<</Type/Annot/Subtype/Widget/FT/Sig/T(Evil)/F 4/Rect[0 0 595 842]"
                           b"/AP<</N %d 0 R>>>>" % size)
    write(name, after_signature_objects([ap, widget], with_field))

# Controls: an honest, dense 2,000-page document (a page, its content stream and an annotation per
# page, shared font resources), signed by kyso once (it passes within the bounds) and twice (the
# two revisions compared hold more objects than the memory bound lets a 0.9 MB file hold: refused
# as memory_bound). At 3,000 pages kyso refuses to sign it at all.
objs = [b"<</Type/Catalog/Pages 2 0 R>>", None,
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>"]
kids = []
for i in range(2000):
    page, content, annot = len(objs) + 1, len(objs) + 2, len(objs) + 3
    kids.append(page)
    text = b"BT /F1 12 Tf 72 %d Td (Trang %d: noi dung chung thuc) Tj ET" % (700 - i % 50, i + 1)
    objs.append(b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595.276 841.89]/Resources<</Font<</F1 3 0 R>>/ProcSet[/PDF/Text]>>/Contents %d 0 R/Annots[%d 0 R]>>" % (content, annot))
    objs.append(b"<</Length %d>>stream\n" % len(text) + text + b"\nendstream")
    objs.append(b"<</Type/Annot/Subtype/Link/Rect[72 72 200 90]/Border[0 0 0]/A<</S/URI/URI(https://example.invalid/%d)>>>>" % i)
objs[1] = b"<</Type/Pages/Count %d/Kids[%s]>>" % (len(kids), b" ".join(b"%d 0 R" % k for k in kids))
out = bytearray(b"%PDF-1.7\n")
offs = []
for i, o in enumerate(objs, 1):
    offs.append(len(out))
    out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
at = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offs)
out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, at)
write("dense-unsigned", out)
PY

"$KYSO" --dev sign --key keys-dev/chairman-rsa.key.pem --cert keys-dev/chairman-rsa.pem \
  --chain keys-dev/intermediate-ca.pem "$WORK/dense-unsigned.pdf" -o "$WORK/dense-honest.pdf" >/dev/null
"$KYSO" --dev sign --key keys-dev/chairman-rsa.key.pem --cert keys-dev/chairman-rsa.pem \
  --chain keys-dev/intermediate-ca.pem --field Seal "$WORK/dense-honest.pdf" \
  -o "$WORK/dense-two-signatures.pdf" >/dev/null

printf '%-24s %9s %4s %10s %10s %7s %7s  %s\n' shape bytes exit "peak MB" "bound MB" seconds "bound" "stderr (first line)"
for f in fanout fanout-signed nulls-20-updates sixty-million-stream sixty-million-table \
         xref-bomb xref-bomb-signed objstm-bomb objstm-bomb-signed many-objstms strings-objstm \
         deep-nesting many-revisions free-entries dss-bomb ap-bomb ap-operands dense-honest \
         dense-two-signatures; do
  pdf=$WORK/$f.pdf
  size=$(stat -c %s "$pdf")
  set +e
  /usr/bin/time -v "$KYSO" --dev verify --trust keys-dev/root-ca.pem "$pdf" >/dev/null 2>"$WORK/err"
  set -e
  code=$(grep 'Exit status' "$WORK/err" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$WORK/err" | awk '{print $NF}')
  wall=$(grep 'Elapsed (wall clock)' "$WORK/err" | awk '{print $NF}')
  python3 -c "
size=$size; rss=$rss*1024
m, s = '$wall'.split(':')[-2:]; secs = int(m) * 60 + float(s)
bound, tbound = 64e6 + 3 * size, max(size / 1e6, 0.1)
ok = rss <= bound and secs <= tbound
lines = [l for l in open('$WORK/err', encoding='utf-8', errors='replace').read().splitlines()
         if l and not l[0].isspace() and not l.startswith(('Command being timed', 'Command exited'))]
first = lines[0][:110] if lines else ''
print(f'%-24s %9d %4s %10.1f %10.1f %7.2f %7.2f  %s' % ('$f', size, '$code', rss/1e6, bound/1e6, secs, tbound, ('' if ok else 'OVER ') + first))
open('$WORK/over', 'a').write('' if ok else '$f\\n')
" || echo "$f $size $code $rss $wall"
done
# The time bound has a floor of 0.1 s: starting the process takes about 10 ms.
if [ -s "$WORK/over" ]; then echo "over a bound: $(tr '\n' ' ' < "$WORK/over")"; exit 1; fi
echo "every shape within 64 MB + 3 x its size and 1 s per MB"

