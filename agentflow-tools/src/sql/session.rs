//! A pooled connection carries no state from one call into its next use.
//!
//! Rolling back undoes most of what a query could do to its session (settings, `LISTEN`,
//! cursors), but not everything: a session-level advisory lock, a prepared statement made by a
//! function, a temporary table made where writes are allowed outlive it. So the session's
//! observable state is read before the call and after its rollback; if they differ, the
//! connection is closed instead of going back to the pool (which may be shared with other
//! code). `DISCARD ALL` is not used: it would also drop sqlx's own cached statements, which
//! the pool's other users rely on.

use sqlx::{Connection as _, PgConnection, SqliteConnection};

/// What a PostgreSQL session carries from one transaction into the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PgSessionState {
    /// Advisory locks the session holds (lock tag and mode).
    advisory_locks: Vec<String>,
    /// Relations in the session's temporary schema.
    temp_relations: i64,
    /// Channels the session listens on.
    listening: Vec<String>,
    /// Open cursors (held cursors outlive their transaction).
    cursors: Vec<String>,
    /// Prepared statements other than sqlx's own statement cache.
    prepared_statements: i64,
    /// Settings whose value comes from the session (`SET`, `set_config(…, false)`).
    settings: Vec<String>,
}

const PG_STATE: &str = "SELECT \
    ARRAY(SELECT l.classid::text || ':' || l.objid::text || ':' || l.objsubid::text || ':' || l.mode \
          FROM pg_catalog.pg_locks AS l \
          WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() ORDER BY 1), \
    (SELECT count(*) FROM pg_catalog.pg_class AS c WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()), \
    ARRAY(SELECT c::text FROM pg_catalog.pg_listening_channels() AS c ORDER BY 1), \
    ARRAY(SELECT name FROM pg_catalog.pg_cursors ORDER BY 1), \
    (SELECT count(*) FROM pg_catalog.pg_prepared_statements), \
    ARRAY(SELECT name || '=' || setting FROM pg_catalog.pg_settings WHERE source = 'session' ORDER BY 1)";

impl PgSessionState {
    /// Reads the state of `conn`'s session (outside a transaction, or in one that has changed
    /// nothing yet).
    pub(crate) async fn read(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        let (advisory_locks, temp_relations, listening, cursors, prepared, settings) =
            sqlx::query_as::<_, (Vec<String>, i64, Vec<String>, Vec<String>, i64, Vec<String>)>(PG_STATE)
                .persistent(false)
                .fetch_one(&mut *conn)
                .await?;
        let cached = i64::try_from(conn.cached_statements_size()).unwrap_or(i64::MAX);
        Ok(PgSessionState {
            advisory_locks,
            temp_relations,
            listening,
            cursors,
            prepared_statements: prepared.saturating_sub(cached),
            settings,
        })
    }

    /// What differs from `before`, for the log.
    pub(crate) fn changes_since(&self, before: &Self) -> Vec<&'static str> {
        let mut changes = Vec::new();
        if self.advisory_locks != before.advisory_locks {
            changes.push("advisory locks");
        }
        if self.temp_relations != before.temp_relations {
            changes.push("temporary tables");
        }
        if self.listening != before.listening {
            changes.push("LISTEN channels");
        }
        if self.cursors != before.cursors {
            changes.push("cursors");
        }
        if self.prepared_statements != before.prepared_statements {
            changes.push("prepared statements");
        }
        if self.settings != before.settings {
            changes.push("session settings");
        }
        changes
    }
}

/// What a SQLite connection carries from one statement into the next: temporary objects,
/// attached databases, and the read-only pragma.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SqliteSessionState {
    temp_objects: i64,
    databases: i64,
    query_only: i64,
}

const SQLITE_STATE: &str = "SELECT (SELECT count(*) FROM temp.sqlite_master), \
    (SELECT count(*) FROM pragma_database_list), (SELECT query_only FROM pragma_query_only)";

impl SqliteSessionState {
    /// Reads the state of `conn`.
    pub(crate) async fn read(conn: &mut SqliteConnection) -> Result<Self, sqlx::Error> {
        let (temp_objects, databases, query_only) = sqlx::query_as(SQLITE_STATE)
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
        Ok(SqliteSessionState {
            temp_objects,
            databases,
            query_only,
        })
    }

    /// What differs from `before`, for the log.
    pub(crate) fn changes_since(&self, before: &Self) -> Vec<&'static str> {
        let mut changes = Vec::new();
        if self.temp_objects != before.temp_objects {
            changes.push("temporary objects");
        }
        if self.databases != before.databases {
            changes.push("attached databases");
        }
        if self.query_only != before.query_only {
            changes.push("query_only");
        }
        changes
    }
}
