//! The admin API's tokens on SQLite and PostgreSQL: found by hash, unique by name, revoked once,
//! and an agent admin's `sys_id` kept beside its role.

mod fixture;

use nkpay_store::admin_api_tokens::{self, NewApiToken};
use nkpay_store::admin_users;
use nkpay_store::kinds::{AdminRole, RecordStatus};
use nkpay_store::testing::databases;

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[tokio::test]
async fn tokens_are_found_by_hash_unique_by_name_and_revoked_once() {
    for t in databases().await {
        let c = t.db.conn();
        let new = NewApiToken {
            name: "ci",
            token_hash: HASH,
            role: AdminRole::AgentAdmin,
            sys_id: Some("6666000100000000"),
            created_by: "root",
        };
        let made = admin_api_tokens::insert(c, &new, fixture::t0())
            .await
            .unwrap();
        assert_eq!(made.role, AdminRole::AgentAdmin, "{}", t.label);
        let err = admin_api_tokens::insert(c, &new, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        let found = admin_api_tokens::find_by_hash(c, HASH)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found.sys_id.as_deref(),
            Some("6666000100000000"),
            "{}",
            t.label
        );
        assert!(
            admin_api_tokens::revoke(c, "ci", fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            !admin_api_tokens::revoke(c, "ci", fixture::t0())
                .await
                .unwrap()
        );
        let after = admin_api_tokens::find_by_name(c, "ci")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.status, RecordStatus::Disabled, "{}", t.label);
        assert!(after.revoked_at.is_some(), "{}", t.label);
        assert_eq!(admin_api_tokens::list(c).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_agent_admin_user_keeps_its_service_provider() {
    for t in databases().await {
        let c = t.db.conn();
        admin_users::insert_admin_user(
            c,
            "agent",
            "$argon2id$v=19$x",
            AdminRole::AgentAdmin,
            Some("6666000100000000"),
            fixture::t0(),
        )
        .await
        .unwrap();
        let u = admin_users::find_admin_user(c, "agent")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (u.role, u.sys_id.as_deref()),
            (AdminRole::AgentAdmin, Some("6666000100000000")),
            "{}",
            t.label
        );
    }
}
