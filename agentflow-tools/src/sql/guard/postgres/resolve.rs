//! PostgreSQL: the names a query uses, resolved in the database, in the query's own transaction
//! (so with the search path the query itself will see).
//!
//! - An unqualified function call resolves, in PostgreSQL, to the best match among *all*
//!   functions of that name on the search path (a `public.lower(integer)` beats
//!   `pg_catalog.lower(text)` for `lower(1)`). So every schema on the path that has a function
//!   of that name must be allowed for it: `pg_catalog` for the built-in allow-list, another
//!   schema only through [`SqlConfig::allow_function`](crate::sql::SqlConfig::allow_function).
//! - `t.f` and `(row).f` call the function `f` on the row when no column is named `f`
//!   (functional notation): every function of that name on the search path that could take
//!   the row must be allowed too.
//! - Operators run functions too. An operator named without a schema may be any operator of
//!   that name on the path; it is allowed only when no schema but `pg_catalog` on the path
//!   defines an operator of that name. (`OPERATOR(schema.op)` is allowed for `pg_catalog`
//!   only, checked by the parse.)
//! - Casts and typed literals run the target type's input function and the cast's function:
//!   every type the query names must have a built-in input function (the types of `pg_catalog`,
//!   and enums, composites and domains) and no cast to it may run a function outside
//!   `pg_catalog`.

use std::time::Duration;

use sqlx::PgConnection;

use super::{Names, QualifiedName};
use crate::sql::config::SqlDialect;
use crate::sql::error::SqlError;
use crate::sql::guard::FunctionAllowlist;

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Checks every function, operator and type of `names` in the database.
pub(crate) async fn check_names(
    conn: &mut PgConnection,
    allow: &FunctionAllowlist,
    names: &Names,
    timeout: Duration,
) -> Result<(), SqlError> {
    let err = |e| SqlError::from_sqlx(e, timeout);
    for function in &names.functions {
        // A qualified name was checked against the allow-list by the parse.
        if function.schema.is_some() {
            continue;
        }
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT n.nspname::text FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.proname = $1 AND n.nspname = ANY (pg_catalog.current_schemas(true)) ORDER BY 1",
        )
        .bind(&function.name)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
        for schema in schemas {
            if !allow.allows(SqlDialect::Postgres, Some(&schema), &function.name) {
                return Err(SqlError::DeniedFunction(format!("{schema}.{}", function.name)));
            }
        }
    }
    for field in &names.fields {
        // Functional notation: `t.f` calls `f(t)` when `t` has no column `f`. Any function of
        // that name on the search path that could take the row must be allowed: those outside
        // pg_catalog, and pg_catalog's own whose first parameter is a pseudo-type (any, record,
        // anyelement…).
        let callable: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT n.nspname::text FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.proname = $1 AND p.pronargs >= 1 \
             AND n.nspname = ANY (pg_catalog.current_schemas(true)) \
             AND (n.nspname <> 'pg_catalog' OR EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = p.proargtypes[0] AND t.typtype = 'p')) \
             ORDER BY 1",
        )
        .bind(field)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
        for schema in callable {
            if !allow.allows(SqlDialect::Postgres, Some(&schema), field) {
                return Err(SqlError::DeniedFunction(format!("{schema}.{field}")));
            }
        }
    }
    for operator in names.operators.iter().filter(|o| o.schema.is_none()) {
        let shadowing: Option<String> = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_catalog.pg_operator o \
             JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
             WHERE o.oprname = $1 AND n.nspname <> 'pg_catalog' \
             AND n.nspname = ANY (pg_catalog.current_schemas(true)) LIMIT 1",
        )
        .bind(&operator.name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
        if let Some(schema) = shadowing {
            return Err(SqlError::Unsupported(format!(
                "the operator {} is also defined in schema {schema}, whose functions this tool does not run; \
                 use a built-in operator or function",
                operator.name
            )));
        }
    }
    for type_name in &names.types {
        // An unknown type: the query fails on its own when it runs.
        let Some(facts) = type_facts(conn, type_name, timeout).await? else {
            continue;
        };
        if facts.input_schema != "pg_catalog" || facts.user_cast {
            return Err(SqlError::Unsupported(format!(
                "casts to the type {}.{} run functions outside the built-in ones; \
                 cast to a built-in type such as text or numeric",
                facts.schema, type_name.name
            )));
        }
    }
    Ok(())
}

/// What the database knows of a type the query names.
#[derive(sqlx::FromRow)]
struct TypeFacts {
    /// The type's schema.
    schema: String,
    /// The schema of its input function (`enum_in`, `record_in`, `domain_in`… for enums,
    /// composites and domains of `pg_catalog`'s types).
    input_schema: String,
    /// A cast to the type runs a function outside `pg_catalog`.
    user_cast: bool,
}

/// The type `name` resolves to on the search path, if it exists.
async fn type_facts(
    conn: &mut PgConnection,
    name: &QualifiedName,
    timeout: Duration,
) -> Result<Option<TypeFacts>, SqlError> {
    let text = match &name.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&name.name)),
        None => quote(&name.name),
    };
    sqlx::query_as(
        "SELECT n.nspname::text AS schema, pn.nspname::text AS input_schema, \
         EXISTS (SELECT 1 FROM pg_catalog.pg_cast c \
                 JOIN pg_catalog.pg_proc cp ON cp.oid = c.castfunc \
                 JOIN pg_catalog.pg_namespace cn ON cn.oid = cp.pronamespace \
                 WHERE c.casttarget = t.oid AND cn.nspname <> 'pg_catalog') AS user_cast \
         FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         JOIN pg_catalog.pg_proc p ON p.oid = t.typinput \
         JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
         WHERE t.oid = pg_catalog.to_regtype($1)",
    )
    .bind(text)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| SqlError::from_sqlx(e, timeout))
}
