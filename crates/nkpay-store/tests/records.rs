//! The bookkeeping tables: channel messages and calls, incidents, console users, the audit
//! log and statement files.

mod fixture;

use chrono::Duration;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::channel_records::{self, NewExchange, NewInboundMessage};
use nkpay_store::kinds::{AdminRole, RecordStatus, StatementOwner, StatementStatus};
use nkpay_store::statements::{self, NewStatementFile, WrittenContent};
use nkpay_store::testing::databases;
use nkpay_store::{admin_users, audit_log, incidents};

#[tokio::test]
async fn inbound_messages_and_exchanges_are_kept_per_trade() {
    for t in databases().await {
        let c = t.db.conn();
        // Two notifies: one for the trade (verified, with its outcome), one refused unsigned.
        let stored = channel_records::record_inbound_many(
            &t.db,
            &[
                NewInboundMessage {
                    channel: ChannelKind::Wechat,
                    kind: "pay".into(),
                    body: "<xml><return_code>SUCCESS</return_code></xml>".into(),
                    headers: Some(r#"{"content-type":"text/xml"}"#.into()),
                    remote_addr: Some("127.0.0.1:5555".into()),
                    verified: true,
                    outcome: Some("finalized S".into()),
                    nkp_seq_id: Some("NKP0001".into()),
                    received_at: fixture::t0(),
                },
                NewInboundMessage {
                    channel: ChannelKind::Wechat,
                    kind: "pay".into(),
                    body: "<xml></xml>".into(),
                    headers: None,
                    remote_addr: None,
                    verified: false,
                    outcome: Some("refused: no signature".into()),
                    nkp_seq_id: None,
                    received_at: fixture::t0(),
                },
            ],
        )
        .await
        .unwrap();
        assert_eq!(stored, 2, "{}", t.label);
        let linked = channel_records::list_inbound_for(c, "NKP0001")
            .await
            .unwrap();
        assert_eq!(linked.len(), 1, "{}", t.label);
        assert!(linked[0].verified, "{}", t.label);
        assert_eq!(
            linked[0].outcome.as_deref(),
            Some("finalized S"),
            "{}",
            t.label
        );

        let calls: Vec<NewExchange> = ["unifiedorder", "orderquery"]
            .into_iter()
            .map(|call| NewExchange {
                nkp_seq_id: Some("NKP0001".into()),
                channel: ChannelKind::Wechat,
                call_name: call.into(),
                request_body: "<xml><sign>***</sign></xml>".into(),
                reply_body: None,
                duration_ms: 30,
                outcome: "ok".into(),
                at: fixture::t0(),
            })
            .collect();
        assert_eq!(
            channel_records::record_exchanges(&t.db, &calls)
                .await
                .unwrap(),
            2,
            "{}",
            t.label
        );
        let calls: Vec<_> = channel_records::list_exchanges_for(c, "NKP0001")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.call_name)
            .collect();
        assert_eq!(calls, vec!["unifiedorder", "orderquery"], "{}", t.label);
    }
}

#[tokio::test]
async fn incident_is_resolved_once() {
    for t in databases().await {
        let c = t.db.conn();
        let i = incidents::open_incident(
            c,
            "amount_mismatch",
            Some("NKP0001"),
            "notify total_fee 99 != trans_amt 100",
            fixture::t0(),
        )
        .await
        .unwrap();
        assert_eq!(
            incidents::list_open(c, 10).await.unwrap().len(),
            1,
            "{}",
            t.label
        );
        assert!(incidents::resolve(c, i.id, fixture::t0()).await.unwrap());
        assert!(!incidents::resolve(c, i.id, fixture::t0()).await.unwrap());
        assert!(
            incidents::list_open(c, 10).await.unwrap().is_empty(),
            "{}",
            t.label
        );
        assert_eq!(
            incidents::list_for(c, "NKP0001").await.unwrap().len(),
            1,
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn admin_usernames_are_unique_and_users_can_be_disabled() {
    for t in databases().await {
        let c = t.db.conn();
        admin_users::insert_admin_user(
            c,
            "ops",
            "$argon2id$v=19$x",
            AdminRole::Operator,
            None,
            fixture::t0(),
        )
        .await
        .unwrap();
        let err =
            admin_users::insert_admin_user(c, "ops", "h", AdminRole::ReadOnly, None, fixture::t0())
                .await
                .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        assert!(
            admin_users::set_password_hash(c, "ops", "h2", fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            admin_users::set_admin_user_status(c, "ops", RecordStatus::Disabled, fixture::t0())
                .await
                .unwrap()
        );
        let u = admin_users::find_admin_user(c, "ops")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (u.password_hash.as_str(), u.status.as_str()),
            ("h2", "disabled"),
            "{}",
            t.label
        );
        assert_eq!(admin_users::list_admin_users(c).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn audit_log_pages_newest_first_and_keeps_json_detail() {
    for t in databases().await {
        let c = t.db.conn();
        for i in 0..5 {
            audit_log::append(
                c,
                audit_log::AuditEntry {
                    actor: "ops",
                    action: "merchant.disable",
                    target: &format!("mer:{i}"),
                    detail: serde_json::json!({"reason": "风控", "n": i}),
                    address: Some("10.0.0.7"),
                },
                fixture::t0() + Duration::seconds(i),
            )
            .await
            .unwrap();
        }
        let first = audit_log::page(c, i64::MAX, 2).await.unwrap();
        assert_eq!(
            first.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            vec!["mer:4", "mer:3"],
            "{}",
            t.label
        );
        assert_eq!(first[0].detail["reason"], "风控", "{}", t.label);
        assert_eq!(first[0].address.as_deref(), Some("10.0.0.7"), "{}", t.label);
        let next = audit_log::page(c, first[1].id, 10).await.unwrap();
        assert_eq!(next.len(), 3, "{}", t.label);
    }
}

#[tokio::test]
async fn statement_file_is_one_per_owner_day_and_bill_type_and_a_rerun_swaps_its_bytes() {
    for t in databases().await {
        let c = t.db.conn();
        let new = NewStatementFile {
            file_id: "F0001".into(),
            owner: StatementOwner::Merchant,
            owner_id: fixture::MER_ID.into(),
            file_date: "20261122".into(),
            data_date: "20261121".into(),
            bill_type: "TRADE_BILL".into(),
            file_name: "20261121_6666000000000001_TRADE_BILL.zip".into(),
            partial: false,
        };
        // Bytes are noted detached before they are written, then swapped in.
        let t0 = fixture::t0();
        statements::note_detached(c, "k1", "", t0).await.unwrap();
        statements::put_chunk(c, "k1", 0, b"abc".to_vec())
            .await
            .unwrap();
        statements::put_chunk(c, "k1", 1, b"de".to_vec())
            .await
            .unwrap();
        let content = |key: &str, size: i64| WrittenContent {
            content_key: key.into(),
            path: String::new(),
            size_bytes: size,
            sha256: "ab".repeat(32),
            row_count: 3,
        };
        let made = statements::swap_in(&t.db, &new, &content("k1", 5), t0, t0)
            .await
            .unwrap();
        assert_eq!(made.status, StatementStatus::Ready, "{}", t.label);
        assert_eq!(made.chunk_key(), "k1", "{}", t.label);
        let found = statements::find_for(
            c,
            StatementOwner::Merchant,
            fixture::MER_ID,
            "20261122",
            None,
        )
        .await
        .unwrap();
        assert_eq!(found.len(), 1, "{}", t.label);
        assert_eq!(
            (
                found[0].status.as_str(),
                found[0].size_bytes,
                found[0].row_count,
                found[0].data_date.as_str()
            ),
            ("ready", 5, 3, "20261121"),
            "{}",
            t.label
        );
        assert_eq!(statements::chunk_count(c, "k1").await.unwrap(), 2);
        assert_eq!(
            statements::read_chunk(c, "k1", 1).await.unwrap(),
            Some(b"de".to_vec())
        );
        assert!(
            statements::find_for(
                c,
                StatementOwner::ServiceProvider,
                fixture::MER_ID,
                "20261122",
                None
            )
            .await
            .unwrap()
            .is_empty(),
            "{}",
            t.label
        );
        // Nothing is purged while its bytes are the file's.
        let later = t0 + Duration::days(3);
        assert_eq!(
            statements::purge_detached(&t.db, later, 10).await.unwrap(),
            []
        );

        // A rerun under a fresh key: the same row now points at the new bytes; the old bytes
        // stay until the grace period passes.
        statements::note_detached(c, "k2", "", t0).await.unwrap();
        statements::put_chunk(c, "k2", 0, b"xyz".to_vec())
            .await
            .unwrap();
        let at = t0 + Duration::hours(1);
        let swapped = statements::swap_in(&t.db, &new, &content("k2", 3), at, at)
            .await
            .unwrap();
        assert_eq!((swapped.id, swapped.chunk_key()), (made.id, "k2"));
        assert_eq!(statements::chunk_count(c, "k1").await.unwrap(), 2);
        assert_eq!(
            statements::purge_detached(&t.db, at, 10).await.unwrap(),
            [],
            "{}: k1 was detached at `at`, not before",
            t.label
        );
        assert_eq!(
            statements::purge_detached(&t.db, later, 10).await.unwrap(),
            [("k1".to_owned(), String::new())],
            "{}",
            t.label
        );
        assert_eq!(statements::chunk_count(c, "k1").await.unwrap(), 0);
        assert_eq!(statements::chunk_count(c, "k2").await.unwrap(), 1);
        // Bytes noted but never swapped in (a writer that died) are purged the same way.
        statements::note_detached(c, "k3", "F0001.k3.zip", at)
            .await
            .unwrap();
        statements::put_chunk(c, "k3", 0, b"half".to_vec())
            .await
            .unwrap();
        assert_eq!(
            statements::purge_detached(&t.db, later, 10).await.unwrap(),
            [("k3".to_owned(), "F0001.k3.zip".to_owned())]
        );
        assert_eq!(statements::chunk_count(c, "k3").await.unwrap(), 0);
        let file = statements::find_by_file_id(c, "F0001").await.unwrap();
        assert_eq!(file.map(|f| f.size_bytes), Some(3), "{}", t.label);
    }
}
