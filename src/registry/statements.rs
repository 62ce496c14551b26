//! Which statements a piece of work ran, and whether any of them reads a table that grows with
//! the register row by row (tests only).
//!
//! A statement that scans the documents or the audit log costs more with every certification
//! issued: invisible in a test with ten rows, it is what made issue + sign slow down as a
//! benchmark filled its register. Tests record the SQL a use case runs on their thread and
//! ask SQLite's query planner how it would run each statement, so that a missing index fails a
//! test instead of a commune's service a year later.

use std::cell::RefCell;

use super::Registry;

/// Tables with a row per document, version, signature, audit entry, session or archive copy.
/// Tables that stay small (officials, certificates, delegations, users, registers, settings)
/// may be read whole.
const GROWING: &[&str] = &[
    "documents",
    "document_versions",
    "audit_log",
    "archive_outbox",
    "pending_signatures",
    "sessions",
    "api_tokens",
    "login_failures",
    "form_keys",
    "ltv_owed",
    "ltv_schedule",
    "ltv_renewals",
];

thread_local! {
    static SEEN: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// The trace callback installed on every connection in tests: SQLite calls it with each
/// statement as it starts; the recorded text has the parameters' values in place, so that the
/// planner sees what the statement compared.
pub(super) fn record(event: rusqlite::trace::TraceEvent<'_>) {
    let rusqlite::trace::TraceEvent::Stmt(stmt, sql) = event else {
        return;
    };
    SEEN.with(|seen| {
        if let Some(list) = seen.borrow_mut().as_mut() {
            list.push(stmt.expanded_sql().unwrap_or_else(|| sql.to_owned()));
        }
    });
}

/// Starts recording the statements run on this thread (replacing what was recorded).
pub(crate) fn start() {
    SEEN.with(|seen| *seen.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns the distinct statements run since [`start`], in first-run order.
pub(crate) fn take() -> Vec<String> {
    let all = SEEN.with(|seen| seen.borrow_mut().take().unwrap_or_default());
    let mut distinct: Vec<String> = Vec::new();
    for sql in all {
        if !distinct.contains(&sql) {
            distinct.push(sql);
        }
    }
    distinct
}

/// The statements among `statements` that would read a growing table whole, each with the
/// planner's lines that say so. Transaction control, pragmas and trigger markers are skipped.
pub(crate) fn full_scans(registry: &Registry, statements: &[String]) -> Vec<(String, Vec<String>)> {
    let conn = registry.connection();
    let mut found = Vec::new();
    for sql in statements {
        let head = sql.trim_start().to_ascii_uppercase();
        let planned = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
            .iter()
            .any(|k| head.starts_with(k));
        if !planned {
            continue;
        }
        let Ok(mut st) = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) else {
            found.push((sql.clone(), vec!["(cannot be planned)".to_owned()]));
            continue;
        };
        let lines: Vec<String> = match st.query_map([], |r| r.get::<_, String>(3)) {
            Ok(rows) => rows.filter_map(Result::ok).collect(),
            Err(e) => vec![format!("(cannot be planned: {e})")],
        };
        let scans: Vec<String> = lines
            .into_iter()
            .filter(|line| {
                let mut words = line.split_whitespace();
                words.next() == Some("SCAN")
                    && words
                        .next()
                        .is_some_and(|t| GROWING.contains(&t) || is_alias(sql, t))
                    && !through_partial_index(conn, line)
            })
            .collect();
        if !scans.is_empty() {
            found.push((sql.clone(), scans));
        }
    }
    found
}

/// Whether a planner's SCAN line reads a partial index (`... USING [COVERING] INDEX name`
/// where the index has a WHERE clause): such an index holds only the rows still in play (the
/// outbox rows waiting, the documents waiting for a signature), not the whole table.
fn through_partial_index(conn: &rusqlite::Connection, line: &str) -> bool {
    let Some(name) = line
        .split_once("INDEX ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
    else {
        return false;
    };
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [name],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
    .is_some_and(|sql| sql.to_ascii_uppercase().contains(" WHERE "))
}

/// Whether `name` is an alias that `sql` gives a growing table (`FROM documents d`, `FROM
/// documents AS d`).
fn is_alias(sql: &str, name: &str) -> bool {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let direct = words
        .windows(2)
        .any(|w| GROWING.contains(&w[0]) && w[1] == name);
    let with_as = words
        .windows(3)
        .any(|w| GROWING.contains(&w[0]) && w[1].eq_ignore_ascii_case("AS") && w[2] == name);
    direct || with_as
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_without_an_index_is_found_and_one_with_an_index_is_not() {
        let registry = Registry::open_in_memory().unwrap();
        let scan = "SELECT d.id FROM documents d WHERE d.data = 'x'".to_owned();
        let indexed = "SELECT d.id FROM documents d WHERE d.id = 'x'".to_owned();
        let small = "SELECT id FROM officials WHERE full_name = 'x'".to_owned();
        let found = full_scans(&registry, &[scan.clone(), indexed, small]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, scan);
    }
}
