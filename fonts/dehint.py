#!/usr/bin/env python3
"""Makes kyso's Kyso Serif fonts from the Liberation Serif 2.1.5 TrueType files.

The fonts are only ever embedded (subset) in PDFs, where TrueType hinting is dead weight: viewers
and printers scale the outlines and ignore or barely use the instructions, yet they made up 40 % of
the glyf table, plus the cvt, fpgm and prep tables, all of which the PDF writer had to copy and
deflate for every document. This script:

* removes the hinting: every glyph's instructions, the cvt, fpgm and prep tables, the tables of
  hinted device metrics (hdmx, LTSH, VDMX) and gasp (whose grid-fitting flags mean nothing without
  instructions); maxp's hinting limits are reset and head's "instructions may alter advance widths"
  flag is cleared;
* renames the family to "Kyso Serif", because "Liberation" (Red Hat) and "Arimo", "Tinos",
  "Cousine" (Google) are Reserved Font Names that a Modified Version may not use (SIL OFL 1.1 §3);
  the copyright notice (name ID 0) and the licence names (IDs 13, 14) are kept, the trademark notice
  (ID 7), which is about the reserved name, is dropped, and the description (ID 10) says where the
  font comes from;
* leaves everything else as it was: glyph order, outlines, cmap, hmtx advance widths (metric
  compatibility with Times New Roman), kern, GDEF, GPOS, GSUB, OS/2, post.

The output is reproducible (head.modified is kept from the input). Usage, with fontTools installed
(pip install fonttools), from the repository root:

    python3 fonts/dehint.py OUT_DIR LiberationSerif-Regular.ttf LiberationSerif-Bold.ttf \\
        LiberationSerif-Italic.ttf LiberationSerif-BoldItalic.ttf

The originals are in Debian's fonts-liberation2 2.1.5 (/usr/share/fonts/truetype/liberation2/) and in
this repository's history (git show COMMIT:fonts/LiberationSerif-Regular.ttf > ...). Each output is
named after the input's style: OUT_DIR/KysoSerif-Regular.ttf and so on.
"""

import argparse
import os
import sys

from fontTools.ttLib import TTFont

FAMILY = "Kyso Serif"
PS_FAMILY = "KysoSerif"
SOURCE = "Liberation Serif 2.1.5"
# Dropped whole: hinting programs and the tables that only hold hinted (device) metrics or
# rasterizer hints for grid fitting.
HINTING_TABLES = ("cvt ", "fpgm", "prep", "hdmx", "LTSH", "VDMX", "gasp")
# head.flags bit 4: "instructions may alter advance widths".
HEAD_FLAG_INSTRUCTIONS_ALTER_ADVANCE = 1 << 4


def remove_hinting(font):
    for tag in HINTING_TABLES:
        if tag in font:
            del font[tag]
    glyf = font["glyf"]
    for name in font.getGlyphOrder():
        glyph = glyf[name]  # expanded on access
        glyph.removeHinting()
    maxp = font["maxp"]
    maxp.maxZones = 1
    maxp.maxTwilightPoints = 0
    maxp.maxStorage = 0
    maxp.maxFunctionDefs = 0
    maxp.maxInstructionDefs = 0
    maxp.maxStackElements = 0
    maxp.maxSizeOfInstructions = 0
    font["head"].flags &= ~HEAD_FLAG_INSTRUCTIONS_ALTER_ADVANCE


def rename(font):
    name = font["name"]
    style = name.getDebugName(2)  # Regular, Bold, Italic, Bold Italic
    if style is None:
        sys.exit("font has no subfamily name (name ID 2)")
    full = FAMILY if style == "Regular" else f"{FAMILY} {style}"
    postscript = f"{PS_FAMILY}-{style.replace(' ', '')}"
    version = name.getDebugName(5) or ""
    new = {
        1: FAMILY,
        3: f"{FAMILY} {style}; {version.removeprefix('Version ')}; dehinted",
        4: full,
        6: postscript,
        10: (
            f"{FAMILY} is {SOURCE} (based on Tinos, designed by Steve Matteson) with its TrueType "
            "hinting removed, renamed as the SIL Open Font License 1.1 requires of a Modified Version."
        ),
    }
    # The typographic family (16) where the input has one; a typographic subfamily (17) is a style, kept.
    if any(r.nameID == 16 for r in name.names):
        new[16] = FAMILY
    kept = []
    for record in name.names:
        if record.nameID == 7:
            continue
        if record.nameID in new:
            record.string = new[record.nameID]
        kept.append(record)
    name.names = kept
    # ID 10 names Liberation and Tinos as the origin, which the licence allows; no other name may.
    leftover = [
        (r.nameID, r.toUnicode())
        for r in name.names
        if r.nameID != 10 and any(w in r.toUnicode() for w in ("Liberation", "Arimo", "Tinos", "Cousine"))
    ]
    if leftover:
        sys.exit(f"reserved font name left in the name table: {leftover}")
    return postscript


def check_unchanged(original, font):
    """Everything that affects layout must be as in the original."""
    assert original.getGlyphOrder() == font.getGlyphOrder(), "glyph order changed"
    assert original["hmtx"].metrics == font["hmtx"].metrics, "advance widths changed"
    assert original.getBestCmap() == font.getBestCmap(), "cmap changed"
    for tag in ("kern", "GDEF", "GPOS", "GSUB", "OS/2", "hhea", "post"):
        if tag in original:
            assert original.getTableData(tag) == font.getTableData(tag), f"{tag} changed"
    for g in original.getGlyphOrder():
        a, b = original["glyf"][g], font["glyf"][g]
        assert a.getCoordinates(original["glyf"])[0] == b.getCoordinates(font["glyf"])[0], f"outline of {g} changed"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("inputs", nargs="+", help="Liberation Serif 2.1.5 .ttf files")
    args = parser.parse_args()
    for path in args.inputs:
        # recalcTimestamp=False: same input, same bytes.
        font = TTFont(path, recalcTimestamp=False)
        if not (font["name"].getDebugName(1) or "").startswith("Liberation Serif"):
            sys.exit(f"{path}: not Liberation Serif")
        remove_hinting(font)
        postscript = rename(font)
        out = os.path.join(args.out_dir, f"{postscript}.ttf")
        font.save(out)
        check_unchanged(TTFont(path), TTFont(out))
        print(f"{path} ({os.path.getsize(path)} bytes) -> {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
