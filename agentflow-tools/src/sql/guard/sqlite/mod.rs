//! SQLite: SQLite itself reads the statement. The guard compiles it with `EXPLAIN` on the
//! connection that runs it and checks the bytecode program, which is what SQLite will execute:
//!
//! - only opcodes of read-only programs (an allow-list; `OpenWrite`, `VOpen`, `ParseSchema`,
//!   `Program`, any opcode not listed… are refused), and only read transactions;
//! - the tables it opens: each `OpenRead` names a b-tree by root page, mapped to its table
//!   (or to the table of the index) through `sqlite_schema`, then checked against the
//!   allowlist; root pages not in the catalog (`sqlite_schema` itself) are refused;
//! - the functions it calls (`Function`, `PureFunc`, `AggStep`…), against the allow-list.
//!
//! Two things happen before SQLite sees the text, because compiling some statements has effects
//! (a `PRAGMA` takes effect when it is prepared): the text must start with `SELECT`, `WITH`,
//! `VALUES` or `EXPLAIN` (a keyword, followed by a non-word character), and it is cut at its
//! first top-level `;`, the rest of which must be only comments and whitespace. Only the first
//! statement is compiled and run. The cut follows SQLite's tokenizer ([`split`]). Should SQLite
//! still read a second statement in the text, the compilation stops at its first result and the
//! call is refused.

mod split;

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{Row as _, SqliteConnection};

use super::{FunctionAllowlist, not_read_only};
use crate::sql::config::{SqlConfig, SqlDialect};
use crate::sql::error::SqlError;
use split::explained;
pub(crate) use split::split;

/// Opcodes of read-only programs. Writes to ephemeral tables and sorters (`Insert`,
/// `IdxInsert`, `SorterInsert`…) are allowed: a cursor on a database table can only be opened
/// for writing with `OpenWrite`, which is refused.
#[rustfmt::skip]
const OPCODES: &[&str] = &[
    "Init", "Goto", "Gosub", "Return", "InitCoroutine", "Yield", "EndCoroutine", "BeginSubrtn", "Halt",
    "HaltIfNull", "Transaction", "TableLock", "OpenRead", "ReopenIdx", "OpenEphemeral", "OpenAutoindex",
    "OpenDup", "OpenPseudo", "SorterOpen", "Close", "ColumnsUsed", "Rewind", "Next", "Prev", "Last",
    "SeekLT", "SeekLE", "SeekGE", "SeekGT", "SeekRowid", "NotExists", "Found", "NotFound", "NoConflict",
    "IfNoHope", "IfNotOpen", "IdxLE", "IdxGT", "IdxLT", "IdxGE", "IdxRowid", "DeferredSeek",
    "FinishSeek", "SeekScan", "SeekHit", "SeekEnd", "Column", "Rowid", "RowData", "NullRow", "Offset",
    "ResultRow", "Integer", "Int64", "Real", "String", "String8", "Null", "SoftNull", "Blob", "Variable",
    "Move", "Copy", "SCopy", "IntCopy", "Add", "Subtract", "Multiply", "Divide", "Remainder", "Concat",
    "BitAnd", "BitOr", "ShiftLeft", "ShiftRight", "BitNot", "AddImm", "MustBeInt", "RealAffinity",
    "Cast", "Affinity", "TypeCheck", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "ElseEq", "Compare", "Jump",
    "Permutation", "CollSeq", "And", "Or", "Not", "IsTrue", "IsNull", "NotNull", "IfNullRow", "IsType",
    "ZeroOrNull", "If", "IfNot", "IfPos", "IfNotZero", "DecrJumpZero", "Once", "MakeRecord", "Count",
    "Sort", "SorterSort", "SorterNext", "SorterData", "SorterInsert", "SorterCompare", "ResetSorter",
    "Sequence", "SequenceTest", "NewRowid", "Insert", "IdxInsert", "Delete", "IdxDelete", "RowCell",
    "Function", "PureFunc", "AggStep", "AggStep1", "AggValue", "AggFinal", "AggInverse", "MemMax",
    "OffsetLimit", "Filter", "FilterAdd", "RowSetAdd", "RowSetRead", "RowSetTest", "IfSizeBetween",
    "ClrSubtype", "GetSubtype", "SetSubtype", "CursorHint", "ReleaseReg", "Noop", "Explain",
    "Abortable", "Trace",
];

/// Opcodes that call a function named in P4 (`name(argc)`).
const FUNCTION_OPCODES: &[&str] = &[
    "Function",
    "PureFunc",
    "AggStep",
    "AggStep1",
    "AggValue",
    "AggFinal",
    "AggInverse",
];

/// `OPFLAG_P2ISREG` of SQLite's `sqliteInt.h`: P2 of an `Open*` is a register, not a page.
const OPFLAG_P2ISREG: i64 = 0x10;

/// How SQLite shows a function in P4: its name cut to 16 bytes.
const SHOWN_NAME_BYTES: usize = 16;

fn shown(name: &str) -> &str {
    let mut end = name.len().min(SHOWN_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One instruction of an `EXPLAIN` listing.
struct Instruction {
    opcode: String,
    p1: i64,
    p2: i64,
    p3: i64,
    p4: Option<String>,
    p5: i64,
}

/// Compiles `statement` on `conn` and checks its program; returns the first statement's text
/// to run (the whole of it: `statement` is already one statement).
pub(crate) async fn check_program(
    conn: &mut SqliteConnection,
    config: &SqlConfig,
    statement: &str,
    explain: bool,
    timeout: Duration,
) -> Result<(), SqlError> {
    let err = |e| SqlError::from_sqlx(e, timeout);
    let compiled = if explain { explained(statement)? } else { statement };
    let listing = format!("EXPLAIN {compiled}");
    let rows = match explain_one_statement(conn, &listing).await {
        Ok(rows) => rows?,
        Err(sqlx::Error::Database(e)) if e.message().starts_with("no such table: ") => {
            let name = e.message().trim_start_matches("no such table: ").to_owned();
            return Err(SqlError::UnknownTable(name));
        }
        Err(e) => return Err(err(e)),
    };
    let mut program = Vec::with_capacity(rows.len());
    for row in &rows {
        program.push(Instruction {
            opcode: row.try_get("opcode").map_err(err)?,
            p1: row.try_get("p1").map_err(err)?,
            p2: row.try_get("p2").map_err(err)?,
            p3: row.try_get("p3").map_err(err)?,
            p4: row.try_get("p4").unwrap_or(None),
            p5: row.try_get("p5").map_err(err)?,
        });
    }
    let mut catalog = None;
    let mut function_names = None;
    for op in &program {
        let opcode = op.opcode.as_str();
        if !OPCODES.contains(&opcode) {
            return Err(match opcode {
                "VOpen" | "VFilter" | "VColumn" | "VNext" | "VInitIn" => SqlError::TableNotAllowed(
                    "a virtual table (table-valued functions such as json_each or pragma_* are not readable by this tool)"
                        .into(),
                ),
                "OpenWrite" | "Insert" | "Delete" | "Destroy" | "Clear" | "CreateBtree" | "SetCookie"
                | "ParseSchema" | "DropTable" | "DropIndex" | "DropTrigger" | "Vacuum" | "AutoCommit"
                | "Savepoint" => not_read_only("the statement writes"),
                other => SqlError::Unsupported(format!(
                    "the statement compiles to the SQLite operation {other}, which this tool does not run"
                )),
            });
        }
        match opcode {
            // P2 = 0: a read transaction; P1: the database (0 main, 1 temp).
            "Transaction" if op.p2 != 0 => return Err(not_read_only("the statement writes")),
            "Transaction" | "TableLock" if op.p1 > 1 => {
                return Err(SqlError::TableNotAllowed("an attached database".into()));
            }
            "OpenRead" | "ReopenIdx" => {
                // P5 bit OPFLAG_P2ISREG: the root page is in a register, not known here.
                if op.p5 & OPFLAG_P2ISREG != 0 || op.p3 > 1 {
                    return Err(SqlError::TableNotAllowed(
                        "a table opened by a computed page".into(),
                    ));
                }
                if catalog.is_none() {
                    catalog = Some(root_pages(conn, timeout).await?);
                }
                let table = catalog.as_ref().and_then(|c| c.get(&(op.p3, op.p2)));
                let Some((schema, table)) = table else {
                    return Err(SqlError::TableNotAllowed(
                        "an internal table (sqlite_schema)".into(),
                    ));
                };
                if SqlDialect::Sqlite.is_system_table(table)
                    || !config.access.allows(SqlDialect::Sqlite, schema, table)
                {
                    return Err(SqlError::TableNotAllowed(format!("table {schema}.{table}")));
                }
            }
            _ if FUNCTION_OPCODES.contains(&opcode) => {
                let p4 = op.p4.as_deref().unwrap_or_default();
                let name = p4.rsplit_once('(').map_or(p4, |(name, _)| name);
                if function_names.is_none() {
                    function_names = Some(registered_functions(conn, timeout).await?);
                }
                check_function(
                    &config.functions,
                    function_names.as_deref().unwrap_or_default(),
                    name,
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The rows of the listing's first statement. Anything after its end (SQLite read a second
/// statement the split missed) refuses the call; the stream is dropped there.
async fn explain_one_statement(
    conn: &mut SqliteConnection,
    listing: &str,
) -> Result<Result<Vec<sqlx::sqlite::SqliteRow>, SqlError>, sqlx::Error> {
    use futures::TryStreamExt as _;
    let mut stream = sqlx::raw_sql(listing).fetch_many(&mut *conn);
    let mut rows = Vec::new();
    let mut ended = false;
    while let Some(item) = stream.try_next().await? {
        match item {
            _ if ended => return Ok(Err(SqlError::MultipleStatements(2))),
            sqlx::Either::Left(_) => ended = true,
            sqlx::Either::Right(row) => rows.push(row),
        }
    }
    Ok(Ok(rows))
}

/// A function of the program, as P4 shows it: its name, cut to 16 bytes by some SQLite
/// versions. Every function registered on the connection that could show so must be allowed
/// (so a cut name cannot stand for an allowed one).
fn check_function(
    allow: &FunctionAllowlist,
    registered: &[String],
    shown_name: &str,
) -> Result<(), SqlError> {
    let allowed = |name: &str| allow.sqlite_names().any(|a| a.eq_ignore_ascii_case(name));
    let could_be = |name: &&String| {
        name.eq_ignore_ascii_case(shown_name)
            || (shown_name.len() >= SHOWN_NAME_BYTES && shown(name).eq_ignore_ascii_case(shown_name))
    };
    let mut candidates = registered.iter().filter(could_be).peekable();
    if candidates.peek().is_none() {
        // Not in the list (an older SQLite without `pragma_function_list`): only an allowed
        // name that cannot have been cut.
        return if shown_name.len() < SHOWN_NAME_BYTES && allowed(shown_name) {
            Ok(())
        } else {
            Err(SqlError::DeniedFunction(shown_name.to_owned()))
        };
    }
    for name in candidates {
        if !allowed(name) {
            return Err(SqlError::DeniedFunction(name.clone()));
        }
    }
    Ok(())
}

/// The functions registered on the connection.
async fn registered_functions(
    conn: &mut SqliteConnection,
    timeout: Duration,
) -> Result<Vec<String>, SqlError> {
    match sqlx::query_scalar("SELECT DISTINCT name FROM pragma_function_list")
        .fetch_all(&mut *conn)
        .await
    {
        Ok(names) => Ok(names),
        Err(sqlx::Error::Database(e)) if e.message().contains("no such table") => Ok(Vec::new()),
        Err(e) => Err(SqlError::from_sqlx(e, timeout)),
    }
}

/// `(database, root page) -> (schema, table)`: tables by their own pages, indexes by their
/// table's name.
async fn root_pages(
    conn: &mut SqliteConnection,
    timeout: Duration,
) -> Result<HashMap<(i64, i64), (String, String)>, SqlError> {
    let mut pages = HashMap::new();
    for (database, schema) in [(0_i64, "main"), (1, "temp")] {
        // The schema is one of two literals, never user text.
        let lookup = format!("SELECT tbl_name, rootpage FROM {schema}.sqlite_schema WHERE rootpage > 0");
        let rows: Vec<(String, i64)> = sqlx::query_as(&lookup)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| SqlError::from_sqlx(e, timeout))?;
        for (table, page) in rows {
            pages.insert((database, page), (schema.to_owned(), table));
        }
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_function_names_stand_for_every_function_they_could_be() {
        let allow = FunctionAllowlist::default();
        let registered: Vec<String> = ["json_group_array", "json_group_object", "lower", "load_extension"]
            .map(String::from)
            .to_vec();
        assert!(check_function(&allow, &registered, "lower").is_ok());
        assert!(check_function(&allow, &registered, "json_group_objec").is_ok());
        assert!(check_function(&allow, &registered, "load_extension").is_err());
        assert!(check_function(&allow, &registered, "json_group_object").is_ok());
        let evil: Vec<String> = ["json_group_objecX", "json_group_object"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            check_function(&allow, &evil, "json_group_objec"),
            Err(SqlError::DeniedFunction("json_group_objecX".into()))
        );
        // Unknown to the registry: only a short, allowed name.
        assert!(check_function(&allow, &[], "lower").is_ok());
        assert!(check_function(&allow, &[], "json_group_objec").is_err());
    }
}
