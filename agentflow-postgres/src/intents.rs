//! Step intents in PostgreSQL: a claim is one upsert whose conflict clause decides, under the
//! row lock, whether the claim passes (never claimed, or expired, or the claimant's own).

use agentflow_core::checkpoint::{CheckpointError, IntentClaim, IntentLease, IntentRef, lease_millis};

use crate::database::Database;
use crate::error::classify;

/// The statements, for one schema.
#[derive(Clone, Debug)]
pub(crate) struct IntentSql {
    claim: String,
    read: String,
    complete: String,
    release: String,
}

impl IntentSql {
    pub(crate) fn new(s: &str) -> Self {
        IntentSql {
            // `attempts` is 1 for a fresh row and grows with each takeover. No row comes back
            // when the claim does not pass (completed, or another owner's live claim).
            claim: format!(
                "INSERT INTO {s}.intents AS i (thread_id, ns, key, owner, lease_until)
                 VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 millisecond')
                 ON CONFLICT (thread_id, ns, key) DO UPDATE
                    SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                        attempts = i.attempts + 1
                  WHERE i.result IS NULL
                    AND (i.owner = EXCLUDED.owner OR i.lease_until IS NULL OR i.lease_until <= now())
                 RETURNING i.attempts"
            ),
            read: format!("SELECT result FROM {s}.intents WHERE thread_id = $1 AND ns = $2 AND key = $3"),
            complete: format!(
                "UPDATE {s}.intents SET result = $5, lease_until = NULL
                  WHERE thread_id = $1 AND ns = $2 AND key = $3 AND owner = $4 AND result IS NULL
                 RETURNING 1"
            ),
            release: format!(
                "UPDATE {s}.intents SET lease_until = NULL
                  WHERE thread_id = $1 AND ns = $2 AND key = $3 AND owner = $4 AND result IS NULL"
            ),
        }
    }
}

fn failed(intent: &IntentRef) -> impl Fn(sqlx::Error) -> CheckpointError + '_ {
    move |e| classify(e, &intent.thread_id, None)
}

pub(crate) async fn claim(
    db: &Database,
    sql: &IntentSql,
    intent: &IntentRef,
    lease: IntentLease<'_>,
) -> Result<IntentClaim, CheckpointError> {
    let statement = sqlx::query_scalar::<_, i32>(&sql.claim)
        .bind(&intent.thread_id)
        .bind(&intent.namespace)
        .bind(&intent.key)
        .bind(lease.owner)
        .bind(lease_millis(lease.lease))
        .persistent(db.persistent);
    let attempts = db
        .run(async |conn| statement.fetch_optional(conn).await)
        .await
        .map_err(failed(intent))?;
    match attempts {
        Some(1) => return Ok(IntentClaim::Fresh),
        Some(_) => return Ok(IntentClaim::Ambiguous),
        None => {}
    }
    let read = sqlx::query_scalar(&sql.read)
        .bind(&intent.thread_id)
        .bind(&intent.namespace)
        .bind(&intent.key)
        .persistent(db.persistent);
    let result: Option<Option<Vec<u8>>> = db
        .run(async |conn| read.fetch_optional(conn).await)
        .await
        .map_err(failed(intent))?;
    Ok(match result.flatten() {
        Some(result) => IntentClaim::Completed(result),
        None => IntentClaim::Held,
    })
}

pub(crate) async fn complete(
    db: &Database,
    sql: &IntentSql,
    intent: &IntentRef,
    owner: &str,
    result: &[u8],
) -> Result<bool, CheckpointError> {
    let statement = sqlx::query(&sql.complete)
        .bind(&intent.thread_id)
        .bind(&intent.namespace)
        .bind(&intent.key)
        .bind(owner)
        .bind(result)
        .persistent(db.persistent);
    let done = db
        .run(async |conn| statement.fetch_optional(conn).await)
        .await
        .map_err(failed(intent))?;
    Ok(done.is_some())
}

pub(crate) async fn release(
    db: &Database,
    sql: &IntentSql,
    intent: &IntentRef,
    owner: &str,
) -> Result<(), CheckpointError> {
    let statement = sqlx::query(&sql.release)
        .bind(&intent.thread_id)
        .bind(&intent.namespace)
        .bind(&intent.key)
        .bind(owner)
        .persistent(db.persistent);
    db.run(async |conn| statement.execute(conn).await)
        .await
        .map_err(failed(intent))?;
    Ok(())
}
