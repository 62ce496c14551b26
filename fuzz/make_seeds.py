#!/usr/bin/env python3
"""Writes the seed corpus of the `verify` fuzz target: small files of every shape issue 12 names
(ambiguous cross-reference data, duplicate keys, aliases, object streams holding a number twice,
fan-out to one object, many objects, huge declared sections, decompression bombs, chained
sections of free entries, long strings in object streams, deep nesting, a content stream of
operands without an operator, a DSS listing one stream many times), beside the
signed fixtures in the shared folder. Usage: fuzz/make_seeds.py OUT_DIR [SHARED_DIR]"""
import os
import shutil
import struct
import sys
import zlib

out_dir = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else "/work/shared"
os.makedirs(out_dir, exist_ok=True)


def base_objects():
    return [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>",
        b"<</Length 8>>stream\nBT ET q\nendstream",
    ]


def body(objs, first=1):
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, o in enumerate(objs, first):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    return out, offs


def table(out, entries, trailer=b"/Root 1 0 R", size=None):
    at = len(out)
    out += b"xref\n"
    for num, off in entries:
        if off is None:
            out += b"%d 1\n0000000000 65535 f \n" % num
        else:
            out += b"%d 1\n%010d 00000 n \n" % (num, off)
    out += b"trailer\n<</Size %d%s>>\nstartxref\n%d\n%%%%EOF\n" % (
        size or (max(n for n, _ in entries) + 1), trailer, at)
    return out


def xref_stream(out, num, rows, index, size, extra=b"", compress=False, raw=None):
    at = len(out)
    data = raw if raw is not None else b"".join(struct.pack(">BIH", t, a, b) for t, a, b in rows)
    filt = b""
    if compress:
        data = zlib.compress(data, 9)
        filt = b"/Filter/FlateDecode"
    out += b"%d 0 obj\n<</Type/XRef/Size %d/Root 1 0 R/W[1 4 2]/Index[%s]/Length %d%s%s>>stream\n" % (
        num, size, index, len(data), filt, extra)
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at
    return out


def write(name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(bytes(data))


def plain():
    out, offs = body(base_objects())
    return table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)]), offs


# An honest file, in both forms.
good, offs = plain()
write("plain-table.pdf", good)
out, offs2 = body(base_objects())
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs2]
rows.append((1, len(out), 0))
write("plain-stream.pdf", xref_stream(out, 5, rows, b"0 6", 6))

# An update listing object 4 twice (new definition first), as a table and as a stream.
for form in ("table", "stream"):
    out = bytearray(good)
    prev = good.rfind(b"startxref")
    prev = int(good[prev + 9:].split()[0])
    new = len(out)
    out += b"4 0 obj\n<</Length 6>>stream\nFORGED\nendstream\nendobj\n"
    if form == "table":
        at = len(out)
        out += b"xref\n4 1\n%010d 00000 n \n4 1\n%010d 00000 n \ntrailer\n<</Size 5/Root 1 0 R/Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
            new, offs[3], prev, at)
    else:
        rows = [(1, new, 0), (1, offs[3], 0), (1, len(out), 0)]
        out = xref_stream(out, 5, rows, b"4 1 4 1 5 1", 6, extra=b"/Prev %d" % prev)
    write("dup-entry-%s.pdf" % form, out)

# An entry for object 4 pointing at object 3's header (alias).
out, offs = body(base_objects())
write("alias.pdf", table(out, [(0, None), (1, offs[0]), (2, offs[1]), (3, offs[2]), (4, offs[2])]))

# A trailer with two /Root, a dictionary with two /Contents.
out, offs = body(base_objects())
write("two-roots.pdf", table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)],
                             trailer=b"/Root 1 0 R/Root 2 0 R"))
objs = base_objects() + [b"<</Type/Sig/Contents <00>/Contents <01>/ByteRange[0 1 2 3]>>"]
out, offs = body(objs)
write("dup-key.pdf", table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)]))

# An object stream holding object 3 twice.
out, offs = body(base_objects()[:2] + [b"<</Length 8>>stream\nBT ET q\nendstream"])
objstm = b"3 0 3 60 " + b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>".ljust(60) + \
    b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 9 9]/Contents 4 0 R>>"
stm_at = len(out)
out += b"5 0 obj\n<</Type/ObjStm/N 2/First 9/Length %d>>stream\n" % len(objstm) + objstm + b"\nendstream\nendobj\n"
rows = [(0, 0, 65535), (1, offs[0], 0), (1, offs[1], 0), (2, 5, 1), (1, offs[2], 0), (1, stm_at, 0)]
rows.append((1, len(out), 0))
write("objstm-dup.pdf", xref_stream(out, 6, rows, b"0 7", 7))

# 2,000 entries pointing at one 20 KB array.
out, offs = body(base_objects())
arr_at = len(out)
out += b"5 0 obj\n[" + b"0 " * 10000 + b"]\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, arr_at, 0)] * 2000
rows.append((1, len(out), 0))
write("fanout.pdf", xref_stream(out, len(rows) - 1, rows, b"0 %d" % len(rows), len(rows), compress=True))

# An object stream of 25,000 nulls followed by five xref-only updates.
out, offs = body(base_objects())
n = 25000
head = b"".join(b"%d %d " % (6 + i, 5 * i) for i in range(n))
data = zlib.compress(head + b"null " * n, 9)
stm_at = len(out)
out += b"5 0 obj\n<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>stream\n" % (n, len(head), len(data))
out += data + b"\nendstream\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, stm_at, 0)] + [(2, 5, i) for i in range(n)]
num = len(rows)
rows.append((1, len(out), 0))
out = xref_stream(out, num, rows, b"0 %d" % len(rows), len(rows), compress=True)
for _ in range(5):
    prev = int(out[out.rfind(b"startxref") + 9:].split()[0])
    num += 1
    out = xref_stream(out, num, [(1, len(out), 0)], b"%d 1" % num, num + 1, extra=b"/Prev %d" % prev)
write("nulls-updates.pdf", out)

# Sixty million declared entries, as a stream and as a table.
out, offs = body(base_objects())
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, len(out), 0)]
write("sixty-million-stream.pdf", xref_stream(out, 5, rows, b"0 60000000", 60000000))
out, offs = body(base_objects())
at = len(out)
out += b"xref\n0 60000000\n0000000000 65535 f \n" + b"0000000009 00000 n \n" * 200
out += b"trailer\n<</Size 60000000/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % at
write("sixty-million-table.pdf", out)

# A decompression bomb in the xref stream (8 MiB of zeros in a few KB).
out, offs = body(base_objects())
write("bomb.pdf", xref_stream(out, 5, None, b"0 6", 6, raw=b"\0" * (8 << 20), compress=True))

# An object stream inflating far past what one may hold (64 MiB of nulls in about 64 KB).
out, offs = body(base_objects())
data = zlib.compress(b"null " * (64 << 18), 9)
stm_at = len(out)
out += b"5 0 obj\n<</Type/ObjStm/N 1/First 4/Filter/FlateDecode/Length %d>>stream\n" % len(data)
out += data + b"\nendstream\nendobj\n"
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, stm_at, 0), (2, 5, 0), (1, len(out), 0)]
write("objstm-bomb.pdf", xref_stream(out, 7, rows, b"0 8", 8))

# A page whose content the content reader measures: text in a font with /Widths, paths, a clip,
# an inline image, a form XObject, and an annotation with an appearance (a signature widget
# drawn over the text) for the appearance reader.
content = (b"q 0 0 595 842 re W n 1 g 0 0 595 842 re f 0 g BT /F1 12 Tf 1 0 0 1 72 700 Tm "
           b"[(Hello) -250 (World)] TJ 0 -14 Td (line) ' 2 Tz 1 Tr (x) Tj ET "
           b"q 50 0 0 20 72 600 cm BI /W 1 /H 1 /BPC 8 /CS /G ID \x80 EI Q "
           b"q 1 0 0 1 10 10 cm /Fm1 Do Q 72 500 m 200 500 l 250 550 300 520 310 480 c S "
           b"/Sh1 sh Q")
form = b"0 0 1 rg 0 0 50 50 re f BT /F1 8 Tf (form) Tj ET"
ap = b"1 g 0 0 200 40 re f 0 g BT /F1 10 Tf 4 14 Td (Signed) Tj ET"
objs = [
    b"<</Type/Catalog/Pages 2 0 R/AcroForm<</Fields[8 0 R]>>/Perms<</DocMDP 9 0 R>>>>",
    b"<</Type/Pages/Kids[3 0 R]/Count 1/Resources<</Font<</F1 5 0 R>>/XObject<</Fm1 6 0 R>>>>>>",
    b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Annots[8 0 R]>>",
    b"<</Length %d>>stream\n" % len(content) + content + b"\nendstream",
    b"<</Type/Font/Subtype/TrueType/BaseFont/Arial/FirstChar 32/LastChar 126/Widths[" +
    b" ".join(b"%d" % (278 + 7 * i) for i in range(95)) + b"]>>",
    b"<</Type/XObject/Subtype/Form/BBox[0 0 50 50]/Matrix[1 0 0 1 0 0]/Length %d>>stream\n" % len(form)
    + form + b"\nendstream",
    b"<</Type/XObject/Subtype/Form/BBox[0 0 200 40]/Resources<</Font<</F1 5 0 R>>>>/Length %d>>stream\n"
    % len(ap) + ap + b"\nendstream",
    b"<</Type/Annot/Subtype/Widget/FT/Sig/T(S)/F 4/P 3 0 R/Rect[60 690 260 730]/AP<</N 7 0 R>>>>",
    b"<</Type/Sig/Reference[<</TransformMethod/DocMDP/TransformParams<</P 2>>>>]>>",
]
out, offs = body(objs)
write("content.pdf", table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)]))

# Chained cross-reference streams of one-byte free entries (W [1 0 0]): 8 sections of 20,000.
out, offs = body(base_objects())
prev = None
for k in range(8):
    at = len(out)
    n, first = 20000, 6 + k * 20000
    data = zlib.compress(b"\0" * n, 9)
    extra = b"" if prev is None else b"/Prev %d" % prev
    out += b"%d 0 obj\n<</Type/XRef/Size %d/Root 1 0 R/W[1 0 0]/Index[%d %d]/Filter/FlateDecode/Length %d%s>>stream\n" % (
        100 + k, first + n, first, n, len(data), extra) + data + b"\nendstream\nendobj\n"
    prev = at
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs] + [(1, len(out), 0)]
write("free-entries.pdf", xref_stream(out, 5, rows, b"0 6", 6 + 8 * 20000, extra=b"/Prev %d" % prev))

# Object streams each holding one long string (1 MiB each, a few KB compressed), and an array
# nested deeper than any limit.
out, offs = body(base_objects())
rows = [(0, 0, 65535)] + [(1, o, 0) for o in offs]
for k in range(4):
    head = b"%d 0 " % (9 + k)
    data = zlib.compress(head + b"(" + b"a" * (1 << 20) + b")", 9)
    rows.append((1, len(out), 0))
    out += b"%d 0 obj\n<</Type/ObjStm/N 1/First %d/Filter/FlateDecode/Length %d>>stream\n" % (
        5 + k, len(head), len(data)) + data + b"\nendstream\nendobj\n"
rows += [(2, 5 + k, 0) for k in range(4)]
rows.append((1, len(out), 0))
write("strings-objstm.pdf", xref_stream(out, 13, rows, b"0 14", 14))
out, offs = body(base_objects() + [b"[" * 5000 + b"]" * 5000])
write("deep.pdf", table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)]))

# A page whose content is 200,000 numbers before any operator, and a DSS listing one stream
# many times.
ops = zlib.compress(b"[" + b"0 " * 200000 + b"] TJ", 9)
dss = zlib.compress(b"\0" * (1 << 20), 9)
refs = b" ".join(b"6 0 R" for _ in range(500))
objs = [
    b"<</Type/Catalog/Pages 2 0 R/DSS<</Certs[%s]/CRLs[%s]>>>>" % (refs, refs),
    b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
    b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Annots[5 0 R]>>",
    b"<</Filter/FlateDecode/Length %d>>stream\n" % len(ops) + ops + b"\nendstream",
    b"<</Type/Annot/Subtype/Widget/FT/Sig/T(S)/F 4/P 3 0 R/Rect[0 0 595 842]/AP<</N 4 0 R>>>>",
    b"<</Filter/FlateDecode/Length %d>>stream\n" % len(dss) + dss + b"\nendstream",
]
out, offs = body(objs)
write("operands-dss.pdf", table(out, [(0, None)] + [(i + 1, o) for i, o in enumerate(offs)]))

# The signed fixtures, when the shared folder is there.
for sub in ("fixtures/external/pyhanko",):
    d = os.path.join(shared, sub)
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".pdf"):
                shutil.copy(os.path.join(d, f), os.path.join(out_dir, "fixture-" + f))
print("seeds written to", out_dir, len(os.listdir(out_dir)))
