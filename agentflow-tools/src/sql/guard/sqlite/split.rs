//! The one statement of a SQLite text, cut where SQLite's tokenizer (`sqlite3GetToken` of
//! `tokenize.c`) ends it: `'…'`, `"…"`, `` `…` ``, `[…]` quote; `--` and non-nesting `/* */`
//! comment; a parameter's Tcl-style suffix (`$a(…)`) runs to `)` or whitespace; nothing else
//! can hide a `;`.

use crate::sql::error::SqlError;
use crate::sql::guard::{not_read_only, statement_kind, unsupported};

/// The one statement of a text.
pub(crate) struct Statement<'a> {
    /// The statement, without the `;` and what follows it.
    pub(crate) text: &'a str,
    /// True when it is an `EXPLAIN [QUERY PLAN]`.
    pub(crate) explain: bool,
}

/// SQLite's whitespace (`sqlite3Isspace`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// SQLite's identifier characters (`IdChar`): ASCII letters, digits, `_`, `$`, every byte of a
/// multi-byte UTF-8 character.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// One lexical piece of the text, as far as statement boundaries are concerned.
#[derive(Debug, PartialEq)]
enum Piece {
    /// Whitespace or a comment.
    Blank,
    /// A `;`.
    Semicolon,
    /// A word (keyword or identifier).
    Word,
    /// Anything else: a quoted string or identifier, a number, an operator.
    Other,
}

/// Splits the text into pieces: `(piece, start, end)`.
fn pieces(sql: &str) -> Vec<(Piece, usize, usize)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let piece = if is_space(b) {
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            Piece::Blank
        } else if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Piece::Blank
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            // Not nested; an unterminated comment runs to the end.
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            Piece::Blank
        } else if b == b';' {
            i += 1;
            Piece::Semicolon
        } else if matches!(b, b'\'' | b'"' | b'`') {
            // A doubled quote stands for itself; an unterminated one runs to the end.
            i += 1;
            loop {
                match bytes.get(i) {
                    None => break,
                    Some(&c) if c == b && bytes.get(i + 1) == Some(&b) => i += 2,
                    Some(&c) if c == b => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            Piece::Other
        } else if matches!(b, b'$' | b'@' | b':' | b'#') {
            // A parameter (`$name`, `@name`, `:name`, `#name`, `::` separators) may end in a
            // Tcl-style `(...)` suffix that runs to `)` or whitespace, whatever it holds
            // (quotes, `;`): `$a(';')` is one token.
            i += 1;
            let mut name_bytes = 0;
            while let Some(&c) = bytes.get(i) {
                if is_word(c) {
                    name_bytes += 1;
                    i += 1;
                } else if c == b'(' && name_bytes > 0 {
                    i += 1;
                    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b')' {
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b')') {
                        i += 1;
                    }
                    break;
                } else if c == b':' && bytes.get(i + 1) == Some(&b':') {
                    i += 2;
                } else {
                    break;
                }
            }
            Piece::Other
        } else if b == b'[' {
            while i < bytes.len() && bytes[i] != b']' {
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            Piece::Other
        } else if is_word(b) {
            while i < bytes.len() && is_word(bytes[i]) {
                i += 1;
            }
            Piece::Word
        } else {
            i += 1;
            Piece::Other
        };
        out.push((piece, start, i));
    }
    out
}

/// The first statement of `sql`, refusing a second one and statements that are not queries.
pub(crate) fn split(sql: &str) -> Result<Statement<'_>, SqlError> {
    let pieces = pieces(sql);
    let end = pieces
        .iter()
        .find(|(p, _, _)| *p == Piece::Semicolon)
        .map_or(sql.len(), |(_, start, _)| *start);
    let after = pieces.iter().filter(|(_, start, _)| *start > end);
    let more = after
        .filter(|(p, _, _)| !matches!(p, Piece::Blank | Piece::Semicolon))
        .count();
    let words: Vec<&str> = pieces
        .iter()
        .filter(|(_, start, _)| *start < end)
        .filter(|(p, _, _)| *p != Piece::Blank)
        .take(3)
        .map(|(p, start, stop)| {
            if *p == Piece::Word {
                &sql[*start..*stop]
            } else {
                ""
            }
        })
        .collect();
    let Some(first) = words.first() else {
        return Err(SqlError::Empty);
    };
    if more > 0 {
        // The count is of what follows, in statements: at least two.
        let statements = 1 + sql[end..]
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .count()
            .max(1);
        return Err(SqlError::MultipleStatements(statements));
    }
    let is = |word: &str, keyword: &str| word.eq_ignore_ascii_case(keyword);
    let explain = is(first, "explain");
    if !["select", "with", "values"].iter().any(|k| is(first, k)) && !explain {
        return Err(not_read_only(format!(
            "a {} statement is not a query; send a SELECT",
            statement_kind(
                &sql[pieces
                    .iter()
                    .find(|(p, _, _)| *p != Piece::Blank)
                    .map_or(0, |x| x.1)..end]
            )
        )));
    }
    Ok(Statement {
        text: &sql[..end],
        explain,
    })
}

/// The statement under `EXPLAIN [QUERY PLAN]`: the part SQLite compiles and the guard checks.
pub(super) fn explained(statement: &str) -> Result<&str, SqlError> {
    let pieces = pieces(statement);
    let mut significant = pieces.iter().filter(|(p, _, _)| *p != Piece::Blank);
    let word = |piece: Option<&(Piece, usize, usize)>| {
        piece.map(|(p, s, e)| (*p == Piece::Word, &statement[*s..*e], *e))
    };
    let Some((_, _, mut rest)) = word(significant.next()) else {
        return Err(SqlError::Empty);
    };
    let mut next = word(significant.next());
    if let Some((true, w, _)) = next
        && w.eq_ignore_ascii_case("query")
    {
        match word(significant.next()) {
            Some((true, plan, end)) if plan.eq_ignore_ascii_case("plan") => rest = end,
            _ => return Err(unsupported("this form of EXPLAIN")),
        }
        next = word(significant.next());
    }
    match next {
        Some((true, w, _))
            if ["select", "with", "values"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)) =>
        {
            Ok(&statement[rest..])
        }
        _ => Err(not_read_only(
            "EXPLAIN is allowed only for queries (SELECT, WITH, VALUES)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_where_sqlite_does() {
        let one = |sql| split(sql).map(|s| s.text.to_owned());
        assert_eq!(one("SELECT 1").unwrap(), "SELECT 1");
        assert_eq!(one("SELECT 1; -- done\n ; /* x */").unwrap(), "SELECT 1");
        assert_eq!(one("SELECT ';' AS s").unwrap(), "SELECT ';' AS s");
        assert_eq!(one("SELECT 1 AS [a;b]").unwrap(), "SELECT 1 AS [a;b]");
        assert_eq!(
            one("SELECT 1 AS `a;b`, \"c;\"\"d\"").unwrap(),
            "SELECT 1 AS `a;b`, \"c;\"\"d\""
        );
        assert_eq!(one("SELECT 'it''s;' -- ;\n").unwrap(), "SELECT 'it''s;' -- ;\n");
        // `$` is part of a word for SQLite, not a dollar quote: the `;` ends the statement.
        assert_eq!(
            split("SELECT $a$; DELETE FROM t; $a$").err(),
            Some(SqlError::MultipleStatements(3))
        );
        // Block comments do not nest: `/* /* */` ends at the first `*/`.
        assert!(matches!(
            split("SELECT 1 /* /* */ ; DELETE FROM t /* */"),
            Err(SqlError::MultipleStatements(_))
        ));
        // A backslash does not escape a quote.
        assert!(matches!(
            split("SELECT 'a\\'; DELETE FROM t; --'"),
            Err(SqlError::MultipleStatements(_))
        ));
        assert_eq!(split("  -- only a comment").err(), Some(SqlError::Empty));
        // A parameter's Tcl-style suffix holds quotes and `;` up to `)` or whitespace.
        for sql in [
            "SELECT $a(') ; SELECT x FROM secret; --'",
            "SELECT @a(') ; SELECT 1; --'",
            "SELECT :a::b(') ; SELECT 1; --'",
            "SELECT #a(\") ; SELECT 1; --\"",
        ] {
            assert!(
                matches!(split(sql), Err(SqlError::MultipleStatements(_))),
                "{sql}"
            );
        }
        assert_eq!(one("SELECT $a(';') AS x").unwrap(), "SELECT $a(';') AS x");
        for sql in [
            "PRAGMA query_only = 0",
            "ATTACH 'x' AS y",
            "DELETE FROM t",
            "\u{a0}SELECT 1",
            "VACUUM",
        ] {
            assert!(matches!(split(sql), Err(SqlError::NotReadOnly(_))), "{sql}");
        }
        assert!(split("EXPLAIN QUERY PLAN SELECT 1").is_ok_and(|s| s.explain));
        assert_eq!(explained("EXPLAIN QUERY PLAN SELECT 1").unwrap(), " SELECT 1");
        assert_eq!(explained("explain select 1").unwrap(), " select 1");
        assert!(matches!(
            explained("EXPLAIN PRAGMA query_only = 0"),
            Err(SqlError::NotReadOnly(_))
        ));
    }
}
