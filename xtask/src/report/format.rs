//! Number formatting for the report: fixed rules, so the same data always
//! prints the same text.

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with about three significant figures: `0.812`, `2.64`,
/// `116.0` is `116`, `3143`.
pub fn ms(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    let a = x.abs();
    if a < 1.0 {
        format!("{x:.3}")
    } else if a < 10.0 {
        format!("{x:.2}")
    } else if a < 100.0 {
        format!("{x:.1}")
    } else {
        thousands_f(x)
    }
}

/// Microseconds as whole numbers with separators.
pub fn us(x: u64) -> String {
    thousands(x)
}

/// Requests per second as whole numbers with separators.
pub fn rps(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    if x.abs() < 10.0 {
        format!("{x:.1}")
    } else {
        thousands_f(x)
    }
}

/// KiB as MiB with two decimals.
pub fn mib(kib: f64) -> String {
    if !kib.is_finite() {
        return "-".to_owned();
    }
    format!("{:.2}", kib / 1024.0)
}

/// A ratio as a percentage, one decimal.
pub fn pct(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "-".to_owned();
    }
    format!("{:.1}%", ratio * 100.0)
}

/// A ratio like `1.57x`.
pub fn times(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "-".to_owned();
    }
    if ratio.abs() >= 100.0 {
        format!("{ratio:.0}x")
    } else {
        format!("{ratio:.2}x")
    }
}

/// A float rounded to a whole number, with separators (and a sign).
fn thousands_f(x: f64) -> String {
    let r = x.round();
    let sign = if r < 0.0 { "-" } else { "" };
    format!("{sign}{}", thousands(r.abs() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(ms(0.8123), "0.812");
        assert_eq!(ms(2.642), "2.64");
        assert_eq!(ms(23.26), "23.3");
        assert_eq!(ms(3143.4), "3,143");
        assert_eq!(ms(f64::NAN), "-");
        assert_eq!(rps(22745.4), "22,745");
        assert_eq!(rps(3.26), "3.3");
        assert_eq!(mib(17928.0), "17.51");
        assert_eq!(pct(0.0512), "5.1%");
        assert_eq!(times(1.5678), "1.57x");
        assert_eq!(times(1190.2), "1190x");
        assert_eq!(us(12345), "12,345");
    }
}
