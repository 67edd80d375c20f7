//! nkpay-migration: the schema, one file per change; a landed migration is never edited.
//!
//! Money columns are BIGINT fen; times are `timestamp with time zone` (UTC) on PostgreSQL and
//! RFC 3339 text on SQLite. Not for: queries (nkpay-store owns them).

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_service_providers_and_merchants;
mod m20261122_000002_create_channel_accounts;
mod m20261122_000003_create_merchant_channels;
mod m20261122_000004_create_platform_keys;
mod m20261122_000005_create_trades;
mod m20261122_000006_create_refunds;
mod m20261122_000007_create_notifications;
mod m20261122_000008_create_channel_records;
mod m20261122_000009_create_incidents;
mod m20261122_000010_create_admin_users_and_audit_log;
mod m20261122_000011_create_statement_files;
mod m20261129_000001_admin_identity;
mod m20261129_141800_service_provider_fee_floors;
mod m20261129_153000_merchant_applications;
mod m20261129_153100_merchant_businesses;
mod m20261129_153200_channel_account_state;
mod m20261129_153300_service_provider_next_key;
mod m20261129_160500_alipay_auth_link_expiry;
mod m20261129_170000_fees;
mod m20261129_170100_statement_data_date;
mod m20261129_170150_statement_bill_type_width;
mod m20261129_170200_reconciliation;
mod m20261129_183000_statement_content_key;
mod m20261129_183100_admin_sessions;
mod m20261129_183300_statement_row_indexes;
mod m20261129_210000_node_leases;
mod m20261129_210100_platform_key_assignments;
mod m20261129_210200_trade_close_requests;
mod m20261129_210210_trade_create_outcome;
mod m20261130_010000_notification_claim_index;
mod m20261130_063000_processing_query_indexes;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_service_providers_and_merchants::Migration),
            Box::new(m20261122_000002_create_channel_accounts::Migration),
            Box::new(m20261122_000003_create_merchant_channels::Migration),
            Box::new(m20261122_000004_create_platform_keys::Migration),
            Box::new(m20261122_000005_create_trades::Migration),
            Box::new(m20261122_000006_create_refunds::Migration),
            Box::new(m20261122_000007_create_notifications::Migration),
            Box::new(m20261122_000008_create_channel_records::Migration),
            Box::new(m20261122_000009_create_incidents::Migration),
            Box::new(m20261122_000010_create_admin_users_and_audit_log::Migration),
            Box::new(m20261122_000011_create_statement_files::Migration),
            Box::new(m20261129_000001_admin_identity::Migration),
            Box::new(m20261129_141800_service_provider_fee_floors::Migration),
            Box::new(m20261129_153000_merchant_applications::Migration),
            Box::new(m20261129_153100_merchant_businesses::Migration),
            Box::new(m20261129_153200_channel_account_state::Migration),
            Box::new(m20261129_153300_service_provider_next_key::Migration),
            Box::new(m20261129_160500_alipay_auth_link_expiry::Migration),
            Box::new(m20261129_170000_fees::Migration),
            Box::new(m20261129_170100_statement_data_date::Migration),
            Box::new(m20261129_170150_statement_bill_type_width::Migration),
            Box::new(m20261129_170200_reconciliation::Migration),
            Box::new(m20261129_183000_statement_content_key::Migration),
            Box::new(m20261129_183100_admin_sessions::Migration),
            Box::new(m20261129_183300_statement_row_indexes::Migration),
            Box::new(m20261129_210000_node_leases::Migration),
            Box::new(m20261129_210100_platform_key_assignments::Migration),
            Box::new(m20261129_210200_trade_close_requests::Migration),
            Box::new(m20261129_210210_trade_create_outcome::Migration),
            Box::new(m20261130_010000_notification_claim_index::Migration),
            Box::new(m20261130_063000_processing_query_indexes::Migration),
        ]
    }
}
