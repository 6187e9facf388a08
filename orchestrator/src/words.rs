//! Small helpers for the words the reports print: counts with the right
//! plural, so a page never says "1 outages".

/// `n` and the noun in the right number: `count(1, "outage")` is "1 outage",
/// `count(2, "outage")` "2 outages".
pub fn count(n: impl Into<f64>, noun: &str) -> String {
    let n = n.into();
    let shown = if n == n.trunc() && n.abs() < 1e15 { format!("{n:.0}") } else { format!("{n}") };
    format!("{shown} {}", noun_for(n, noun))
}

/// The noun alone, in the number `n` asks for.
pub fn noun_for(n: impl Into<f64>, noun: &str) -> String {
    if n.into() == 1.0 {
        return noun.to_string();
    }
    plural(noun)
}

/// English plural of the nouns the reports use.
fn plural(noun: &str) -> String {
    // A phrase ("request failed") takes the plural on its first word.
    if let Some((head, rest)) = noun.split_once(' ') {
        return format!("{} {rest}", plural(head));
    }
    if noun.ends_with("sh") || noun.ends_with("ch") || noun.ends_with('s') || noun.ends_with('x') {
        format!("{noun}es")
    } else if noun.ends_with('y') && !noun.ends_with("ay") && !noun.ends_with("ey") && !noun.ends_with("oy") {
        format!("{}ies", &noun[..noun.len() - 1])
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(count(1u32, "outage"), "1 outage");
        assert_eq!(count(2u32, "outage"), "2 outages");
        assert_eq!(count(0u32, "outage"), "0 outages");
        assert_eq!(count(1u32, "crash"), "1 crash");
        assert_eq!(count(3u32, "crash"), "3 crashes");
        assert_eq!(count(2u32, "occurrence"), "2 occurrences");
        assert_eq!(count(2u32, "recovery"), "2 recoveries");
        assert_eq!(count(1u32, "request failed"), "1 request failed");
        assert_eq!(count(5u32, "request failed"), "5 requests failed");
        assert_eq!(count(1.5, "second"), "1.5 seconds");
    }
}
