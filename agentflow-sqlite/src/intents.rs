//! Step intents in SQLite: each claim, completion and release is one write transaction, so the
//! database's write lock makes them atomic across processes.

use agentflow_core::checkpoint::{CheckpointError, IntentClaim, IntentLease, IntentRef, lease_millis};
use sqlx::SqliteConnection;

use crate::error::db;
use crate::saver::now_ms;

/// The row of an intent: (owner, lease_until, result).
type Row = (String, Option<i64>, Option<Vec<u8>>);

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    intent: &IntentRef,
    lease: IntentLease<'_>,
) -> Result<IntentClaim, CheckpointError> {
    let now = now_ms();
    let until = now.saturating_add(lease_millis(lease.lease));
    let found: Option<Row> = sqlx::query_as(
        "SELECT owner, lease_until, result FROM intents WHERE thread_id = ?1 AND ns = ?2 AND key = ?3",
    )
    .bind(&intent.thread_id)
    .bind(&intent.namespace)
    .bind(&intent.key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some((owner, lease_until, result)) = found else {
        sqlx::query(
            "INSERT INTO intents (thread_id, ns, key, owner, lease_until, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&intent.thread_id)
        .bind(&intent.namespace)
        .bind(&intent.key)
        .bind(lease.owner)
        .bind(until)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        return Ok(IntentClaim::Fresh);
    };
    if let Some(result) = result {
        return Ok(IntentClaim::Completed(result));
    }
    let live = lease_until.is_some_and(|until| until > now);
    if live && owner != lease.owner {
        return Ok(IntentClaim::Held);
    }
    sqlx::query(
        "UPDATE intents SET owner = ?4, lease_until = ?5, attempts = attempts + 1
          WHERE thread_id = ?1 AND ns = ?2 AND key = ?3",
    )
    .bind(&intent.thread_id)
    .bind(&intent.namespace)
    .bind(&intent.key)
    .bind(lease.owner)
    .bind(until)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(IntentClaim::Ambiguous)
}

pub(crate) async fn complete(
    conn: &mut SqliteConnection,
    intent: &IntentRef,
    owner: &str,
    result: &[u8],
) -> Result<bool, CheckpointError> {
    let done = sqlx::query(
        "UPDATE intents SET result = ?5, lease_until = NULL
          WHERE thread_id = ?1 AND ns = ?2 AND key = ?3 AND owner = ?4 AND result IS NULL",
    )
    .bind(&intent.thread_id)
    .bind(&intent.namespace)
    .bind(&intent.key)
    .bind(owner)
    .bind(result)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn release(
    conn: &mut SqliteConnection,
    intent: &IntentRef,
    owner: &str,
) -> Result<(), CheckpointError> {
    sqlx::query(
        "UPDATE intents SET lease_until = NULL
          WHERE thread_id = ?1 AND ns = ?2 AND key = ?3 AND owner = ?4 AND result IS NULL",
    )
    .bind(&intent.thread_id)
    .bind(&intent.namespace)
    .bind(&intent.key)
    .bind(owner)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
