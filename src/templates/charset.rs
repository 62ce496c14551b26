//! Which characters a certification can carry: what its fonts draw, minus what draws nothing.
//!
//! The register keeps the data as typed, and the PDF is what people read and sign. They must say
//! the same thing. Two kinds of character break that, and submitted text with either is refused
//! per field (see `schema.rs`):
//!
//! - **Characters the fonts cannot draw.** typst falls back to other fonts in its book, and the
//!   book holds only the embedded Kyso Serif faces, so a character outside their `cmap` (Chinese,
//!   emoji, most scripts beyond Latin, Greek and Cyrillic) prints as nothing. The [`Repertoire`]
//!   is computed from the faces' own `cmap` tables when the catalog loads (typst already reads
//!   them into each font's coverage), never from a hard-coded range, so a change of fonts changes
//!   what is accepted. It is the *intersection* over the faces: a field printed in bold or italic
//!   must draw in that face too, not silently in another.
//! - **Characters that draw nothing or move other text** ([`is_invisible_or_reordering`]): bidi
//!   controls (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates, U+200E/U+200F
//!   marks, U+061C) reorder what follows them, so "An" typed with U+202E prints as "nA";
//!   zero-width and other format characters (U+200B–U+200D, U+2060 word joiner, U+FEFF, U+00AD
//!   soft hyphen, variation selectors, tag characters, Hangul fillers) are invisible, so two
//!   register entries that differ only by them print identically and a search for the printed
//!   name misses them. Kyso Serif's `cmap` (Liberation Serif's) maps several of them, U+00AD,
//!   U+200B–U+200F and U+202A–U+202E among them, which is why coverage alone would let them
//!   through.
//!
//! The class is decided from Unicode properties rather than listed by hand character by
//! character: every `Default_Ignorable_Code_Point` (Unicode's own definition of "renders as
//! nothing"; it contains every `Bidi_Control`), every format character (general category Cf, which
//! adds the interlinear annotation controls U+FFF9–U+FFFB that hide the annotated text), and the
//! line and paragraph separators U+2028/U+2029 (a line break, refused like `\n`). Joiners
//! (U+200C/U+200D) are in the class although some scripts need them: no script that needs them is
//! in the fonts' coverage, so refusing them costs nothing a commune writes today; if fonts for
//! such a script are ever added, this is the place to revisit.
//!
//! Decomposed text (NFD, as some keyboards and macOS send Vietnamese: "ê" + U+0301 for "ế") is
//! normalised to NFC before any check, by the schema: canonical equivalence means it is the same
//! text, the precomposed letters are in the fonts, and the register then holds one spelling of
//! each name, so that a search by name finds it whichever keyboard typed it. A combining mark
//! left after NFC (one with no precomposed form) is accepted when the fonts draw it, but not more
//! than [`MAX_STACKED_MARKS`] on one letter, which would stack into the line above and cover it.

use typst::text::Font;

/// Most combining marks accepted on one base character after NFC. Vietnamese needs none after
/// NFC (every letter with its tone mark is precomposed) and at most two before it ("ệ" is e,
/// circumflex, dot below); more is how "Zalgo" text overprints neighbouring lines.
pub const MAX_STACKED_MARKS: usize = 2;

/// The characters that every embedded font face maps in its `cmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repertoire {
    /// Sorted, disjoint, inclusive ranges of code points.
    ranges: Vec<(u32, u32)>,
}

impl Repertoire {
    /// The code points every face in `fonts` covers (the intersection of their `cmap` coverage,
    /// as typst read it when it loaded them). Empty when `fonts` is.
    pub fn of_fonts(fonts: &[Font]) -> Repertoire {
        let Some((first, rest)) = fonts.split_first() else {
            return Repertoire { ranges: Vec::new() };
        };
        // typst's coverage answers `contains` by a linear walk of its runs; as ranges, a lookup is
        // a binary search, which makes this 3 × 2,321 lookups cheap.
        let rest: Vec<Repertoire> = rest
            .iter()
            .map(|f| Repertoire::from_sorted(f.info().coverage.iter()))
            .collect();
        let covered = first
            .info()
            .coverage
            .iter()
            .filter(|&c| rest.iter().all(|r| r.contains_point(c)));
        Repertoire::from_sorted(covered)
    }

    /// Builds ranges from ascending code points.
    fn from_sorted(points: impl IntoIterator<Item = u32>) -> Repertoire {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for c in points {
            match ranges.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(c) => *end = c,
                Some((_, end)) if *end >= c => {}
                _ => ranges.push((c, c)),
            }
        }
        Repertoire { ranges }
    }

    /// Whether the fonts draw `c`.
    pub fn contains(&self, c: char) -> bool {
        self.contains_point(u32::from(c))
    }

    fn contains_point(&self, c: u32) -> bool {
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// How many code points are covered.
    pub fn len(&self) -> usize {
        self.ranges
            .iter()
            .map(|&(lo, hi)| (hi - lo + 1) as usize)
            .sum()
    }

    /// Whether nothing is covered.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

pub use crate::text::is_invisible_or_reordering;

/// `c` as a person can find it in a character table: the character itself when it is visible,
/// a combining mark on a dotted circle (as character tables show them), and always its code point
/// (`"中" U+4E2D`, `"◌́" U+0301`, `U+202E`).
pub fn describe(c: char) -> String {
    if c.is_control() || is_invisible_or_reordering(c) || c.is_whitespace() {
        format!("U+{:04X}", u32::from(c))
    } else if unicode_normalization::char::is_combining_mark(c) {
        format!("\"\u{25CC}{c}\" U+{:04X}", u32::from(c))
    } else {
        format!("\"{c}\" U+{:04X}", u32::from(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_look_up() {
        let r = Repertoire::from_sorted([0x20, 0x21, 0x22, 0x41, 0x41, 0x43]);
        assert_eq!(r.ranges, [(0x20, 0x22), (0x41, 0x41), (0x43, 0x43)]);
        assert_eq!(r.len(), 5);
        for (c, inside) in [
            (' ', true),
            ('"', true),
            ('#', false),
            ('A', true),
            ('B', false),
        ] {
            assert_eq!(r.contains(c), inside, "{c:?}");
        }
        assert!(!r.contains('\u{10FFFF}'));
        assert!(Repertoire::of_fonts(&[]).is_empty());
    }

    #[test]
    fn the_class_holds_bidi_controls_zero_width_and_separators_but_not_letters() {
        for c in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{3164}',
            '\u{2028}',
            '\u{2029}',
            '\u{FFF9}',
            '\u{034F}',
        ] {
            assert!(is_invisible_or_reordering(c), "U+{:04X}", u32::from(c));
        }
        for c in "Nguyễn Thị Ánh Đức Ơ Ư 0123 ,.-/()'\u{00A0}\u{0301}".chars() {
            assert!(!is_invisible_or_reordering(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn the_embedded_fonts_draw_vietnamese_but_not_chinese_or_emoji_and_do_map_bidi_controls() {
        let r = Repertoire::of_fonts(&crate::templates::render::embedded_fonts());
        // Every Vietnamese letter, precomposed, in both cases: 12 vowels x 6 tones, plus đ.
        let vowels = "aăâeêioôơuưy";
        let tones = ["", "\u{300}", "\u{301}", "\u{303}", "\u{309}", "\u{323}"];
        use unicode_normalization::UnicodeNormalization as _;
        for v in vowels.chars().chain(vowels.to_uppercase().chars()) {
            for t in tones {
                let letter: String = format!("{v}{t}").nfc().collect();
                assert_eq!(letter.chars().count(), 1, "{letter} is precomposed");
                let c = letter.chars().next().unwrap();
                assert!(r.contains(c), "{letter} U+{:04X}", u32::from(c));
            }
        }
        assert!(r.contains('đ') && r.contains('Đ'));
        for c in ['中', '😀', '\u{3000}', '\u{0E01}'] {
            assert!(!r.contains(c), "U+{:04X}", u32::from(c));
        }
        // Why coverage alone is not enough: the fonts map these invisible controls.
        for c in ['\u{202E}', '\u{200B}', '\u{200F}', '\u{00AD}'] {
            assert!(
                r.contains(c) && is_invisible_or_reordering(c),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn descriptions_show_visible_characters_and_always_the_code_point() {
        assert_eq!(describe('中'), "\"中\" U+4E2D");
        assert_eq!(describe('\u{202E}'), "U+202E");
        assert_eq!(describe('😀'), "\"😀\" U+1F600");
        assert_eq!(describe('\u{0301}'), "\"\u{25CC}\u{0301}\" U+0301");
    }
}
