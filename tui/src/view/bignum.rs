//! Three-row digits for numbers a classroom reads from the back row.

use ratatui::text::Line;

/// One glyph's three rows; all rows of a glyph have the same width.
fn glyph(c: char) -> [&'static str; 3] {
    match c {
        '0' => ["┏━┓", "┃ ┃", "┗━┛"],
        '1' => [" ┓ ", " ┃ ", " ┻ "],
        '2' => ["┏━┓", "┏━┛", "┗━━"],
        '3' => ["┏━┓", " ━┫", "┗━┛"],
        '4' => ["╻ ╻", "┗━┫", "  ╹"],
        '5' => ["┏━━", "┗━┓", "┗━┛"],
        '6' => ["┏━━", "┣━┓", "┗━┛"],
        '7' => ["━━┓", "  ┃", "  ╹"],
        '8' => ["┏━┓", "┣━┫", "┗━┛"],
        '9' => ["┏━┓", "┗━┫", "━━┛"],
        '.' => [" ", " ", "▪"],
        '%' => ["▪ ╱", " ╱ ", "╱ ▪"],
        '/' => ["  ╱", " ╱ ", "╱  "],
        _ => ["   ", "━━━", "   "],
    }
}

/// The columns `text` takes in big digits.
pub(super) fn width(text: &str) -> usize {
    text.chars().filter(|c| *c != ' ').map(|c| glyph(c)[0].chars().count() + 1).sum()
}

/// `text` in big digits, three lines; characters other than digits, `.`, `/` and `%` read as a dash.
pub(super) fn lines(text: &str) -> [Line<'static>; 3] {
    let mut rows = [String::new(), String::new(), String::new()];
    for c in text.chars().filter(|c| *c != ' ') {
        for (row, part) in rows.iter_mut().zip(glyph(c)) {
            row.push_str(part);
            row.push(' ');
        }
    }
    rows.map(Line::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_line_up_in_three_rows() {
        let [a, b, c] = lines("10.5%");
        assert_eq!(a.to_string(), " ┓  ┏━┓   ┏━━ ▪ ╱ ");
        assert_eq!(b.to_string(), " ┃  ┃ ┃   ┗━┓  ╱  ");
        assert_eq!(c.to_string(), " ┻  ┗━┛ ▪ ┗━┛ ╱ ▪ ");
        assert_eq!(width("10.5%"), a.to_string().chars().count());
        let [a, ..] = lines("3/4");
        assert_eq!(a.to_string(), "┏━┓   ╱ ╻ ╻ ");
        assert_eq!(width("3/4"), 12);
    }
}
