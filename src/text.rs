//! Text rules that hold everywhere kyso takes text from people (configuration, forms, the
//! register), below the templates that print it and the settings that name the authority.

/// Whether `c` draws nothing or changes how other characters are displayed. The class, and why
/// each kind in it is refused, is described in `templates/charset.rs`.
pub fn is_invisible_or_reordering(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_default_ignorable(c)
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt of Unicode 16.0; the set
/// grows rarely, by a few characters in a new version): characters that render as nothing unless
/// specially supported. Unassigned code points in it are included, as Unicode reserves them.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}
