//! The bookkeeping tables: channel messages and calls, incidents, console users, the audit
//! log and statement files.

mod fixture;

use chrono::Duration;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::channel_records::{self, NewExchange, NewInboundMessage};
use nkpay_store::kinds::{AdminRole, RecordStatus, StatementOwner, StatementStatus};
use nkpay_store::statements::{self, NewStatementFile};
use nkpay_store::testing::databases;
use nkpay_store::{admin_users, audit_log, incidents};

#[tokio::test]
async fn inbound_messages_and_exchanges_are_kept_per_trade() {
    for t in databases().await {
        let c = t.db.conn();
        let msg = channel_records::record_inbound(
            c,
            &NewInboundMessage {
                channel: ChannelKind::Wechat,
                kind: "pay".into(),
                body: "<xml><return_code>SUCCESS</return_code></xml>".into(),
                headers: Some(r#"{"content-type":"text/xml"}"#.into()),
                remote_addr: Some("127.0.0.1:5555".into()),
                verified: false,
                outcome: None,
                nkp_seq_id: None,
                received_at: fixture::t0(),
            },
        )
        .await
        .unwrap();
        assert!(
            channel_records::set_inbound_outcome(c, msg.id, true, "finalized S", Some("NKP0001"))
                .await
                .unwrap()
        );
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

        for call in ["unifiedorder", "orderquery"] {
            channel_records::record_exchange(
                c,
                &NewExchange {
                    nkp_seq_id: Some("NKP0001".into()),
                    channel: ChannelKind::Wechat,
                    call_name: call.into(),
                    request_body: "<xml><sign>***</sign></xml>".into(),
                    reply_body: None,
                    duration_ms: 30,
                    outcome: "ok".into(),
                    at: fixture::t0(),
                },
            )
            .await
            .unwrap();
        }
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
async fn statement_file_is_one_per_owner_day_and_bill_type_and_a_rerun_replaces_it() {
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
            path: String::new(),
            partial: false,
        };
        let made = statements::replace_file(&t.db, &new, fixture::t0())
            .await
            .unwrap();
        assert_eq!(made.status, StatementStatus::Making, "{}", t.label);
        statements::put_chunk(c, "F0001", 0, b"abc".to_vec())
            .await
            .unwrap();
        statements::put_chunk(c, "F0001", 1, b"de".to_vec())
            .await
            .unwrap();
        assert!(
            statements::mark_ready(c, "F0001", 5, &"ab".repeat(32), 3, fixture::t0())
                .await
                .unwrap()
        );
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
        assert_eq!(statements::chunk_count(c, "F0001").await.unwrap(), 2);
        assert_eq!(
            statements::read_chunk(c, "F0001", 1).await.unwrap(),
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

        // A rerun replaces the file and its chunks.
        let rerun = NewStatementFile {
            file_id: "F0002".into(),
            ..new.clone()
        };
        statements::replace_file(&t.db, &rerun, fixture::t0())
            .await
            .unwrap();
        assert!(
            statements::find_by_file_id(c, "F0001")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(statements::chunk_count(c, "F0001").await.unwrap(), 0);
        assert!(
            statements::mark_failed(c, "F0002", fixture::t0())
                .await
                .unwrap()
        );
        assert_eq!(
            statements::find_by_file_id(c, "F0002")
                .await
                .unwrap()
                .map(|f| f.status),
            Some(StatementStatus::Failed),
            "{}",
            t.label
        );
    }
}
