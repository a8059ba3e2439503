//! Money as the console shows it: whole tenge with thousands grouped, never a negative zero.
/// How thousands are grouped: Russian with a no-break space, English with a comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

/// `1234.4` → `1 234 ₸` (Russian: a no-break space groups thousands) or `1,234 ₸`
/// (English); `-0.3` and `-0.0` → `0 ₸`.
pub fn tenge(v: f64, lang: Lang) -> String {
    let rounded = v.round();
    // A value that rounds to zero is zero, whatever its sign.
    let n = if rounded == 0.0 || !rounded.is_finite() {
        0
    } else {
        rounded as i64
    };
    let digits = n.unsigned_abs().to_string();
    let sep = match lang {
        Lang::Ru => '\u{a0}',
        Lang::En => ',',
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(sep);
        }
        grouped.push(c);
    }
    let sign = if n < 0 { "−" } else { "" };
    format!("{sign}{grouped} ₸")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_negative_zero_and_thousands_grouped_per_language() {
        assert_eq!(tenge(0.0, Lang::En), "0 ₸");
        assert_eq!(tenge(-0.0, Lang::En), "0 ₸");
        assert_eq!(tenge(-0.4, Lang::Ru), "0 ₸");
        assert_eq!(tenge(999.0, Lang::En), "999 ₸");
        assert_eq!(tenge(1234.4, Lang::En), "1,234 ₸");
        assert_eq!(tenge(1234.5, Lang::Ru), "1\u{a0}235 ₸");
        assert_eq!(tenge(-1_234_567.0, Lang::En), "−1,234,567 ₸");
        assert_eq!(tenge(f64::NAN, Lang::En), "0 ₸");
    }
}
