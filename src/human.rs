//! Turning values into text for terminals: sizes, ages, and names that may hold control
//! characters (a file name or object key must never move the cursor or ring the bell).

use std::borrow::Cow;

/// `name` with control characters escaped (`\n`, `\u{1b}`, ...), safe to print.
pub fn printable(name: &str) -> Cow<'_, str> {
    if name.chars().any(char::is_control) {
        Cow::Owned(
            name.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration in hours as `45m`, `5.2h` or `3d 4h`.
pub fn age(hours: f64) -> String {
    if hours < 1.0 {
        format!("{:.0}m", (hours * 60.0).max(0.0))
    } else if hours < 48.0 {
        format!("{hours:.1}h")
    } else {
        format!("{}d {}h", (hours / 24.0).floor(), (hours % 24.0).floor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain ü"), "plain ü");
        assert_eq!(printable("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(age(0.5), "30m");
        assert_eq!(age(5.25), "5.2h");
        assert_eq!(age(76.0), "3d 4h");
    }
}
