//! The plans the databases choose for the hot writes and the jobs' claims on a freshly migrated
//! database, before any ANALYZE (issue 16, migration `m20261130_063000`): a write of one trade
//! or refund goes through its unique `nkp_seq_id` index, never through an index led by
//! `status` (which reads every processing row), and a claim walks the partial index of
//! processing rows. PostgreSQL is asked for the generic plan (forced with `plan_cache_mode`),
//! the one a prepared statement may settle on after its first executions and keep; SQLite for
//! its query plan. On the schema before that migration, the claims' assertions fail on both
//! databases and the writes' on PostgreSQL.

use chrono::{TimeDelta, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};

use crate::db::Db;
use crate::lease::{LeaseColumns, claim_statement};
use crate::query_jobs::{REFUND_LEASE, TRADE_LEASE};
use crate::testing::databases;
use crate::trades::Placement;

/// The plan `db` keeps for `stmt`, one line per node.
async fn plan_of(db: &Db, stmt: Statement) -> String {
    let conn = db.conn();
    let lines: Vec<String> = match db.backend() {
        DbBackend::Postgres => {
            let txn = conn.begin().await.unwrap();
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
                .await
                .unwrap();
            txn.execute_unprepared(&format!("PREPARE nkpay_plan AS {}", stmt.sql))
                .await
                .unwrap();
            let nulls = vec!["NULL"; stmt.values.map_or(0, |v| v.0.len())].join(", ");
            let rows = txn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("EXPLAIN EXECUTE nkpay_plan({nulls})"),
                ))
                .await
                .unwrap();
            // A prepared statement outlives the transaction: free the name for the next one.
            txn.execute_unprepared("DEALLOCATE nkpay_plan")
                .await
                .unwrap();
            txn.rollback().await.unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap())
                .collect()
        }
        _ => {
            let explain = Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", stmt.sql),
                ..stmt
            };
            conn.query_all_raw(explain)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String>("", "detail").unwrap())
                .collect()
        }
    };
    lines.join("\n")
}

fn claim(backend: DbBackend, cols: &LeaseColumns) -> Statement {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap();
    claim_statement(backend, cols, "node-a", now, TimeDelta::seconds(30), 10)
}

#[tokio::test]
async fn single_row_writes_use_the_unique_key_and_claims_the_processing_index() {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap();
    for t in databases().await {
        let backend = t.db.backend();
        let placement = Placement {
            pay_info: Some("{}".to_owned()),
            ..Placement::default()
        };
        let writes = [
            (
                "trade placement",
                crate::trades::placement_update("NKP1", &placement, now).build(backend),
                "nkp_seq_id",
            ),
            (
                "refund's channel id",
                crate::refunds::party_refund_id_update("NKP2", "R1", now).build(backend),
                "nkp_seq_id",
            ),
        ];
        for (what, stmt, key) in writes {
            let plan = plan_of(&t.db, stmt).await;
            let unique_key = match backend {
                DbBackend::Postgres => plan.contains(&format!("Index Cond: (({key})::text = $")),
                _ => {
                    plan.contains("USING INDEX sqlite_autoindex_")
                        && plan.contains(&format!("({key}=?)"))
                }
            };
            assert!(unique_key, "{}: {what} by its unique key:\n{plan}", t.label);
        }
        for (cols, index) in [
            (&TRADE_LEASE, "idx_trades_processing_next_query"),
            (&REFUND_LEASE, "idx_refunds_processing_next_query"),
        ] {
            let plan = plan_of(&t.db, claim(backend, cols)).await;
            assert!(
                plan.contains(index),
                "{}: {} claim:\n{plan}",
                t.label,
                cols.table
            );
        }
    }
}
