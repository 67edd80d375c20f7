//! Service providers, their merchants, and finding the caller behind a `sys_id`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationDef, Set,
};

use crate::entity::{merchant, service_provider};
use crate::error::StoreError;
use crate::kinds::{ApplyStatus, MerchantKind, RecordStatus};

/// A service provider to register.
#[derive(Debug, Clone)]
pub struct NewServiceProvider {
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    pub sys_id: String,
    /// The product the caller signs up for (`product_id`).
    pub product_id: String,
    /// Display name.
    pub name: String,
    /// The caller's RSA public key (PEM or base64 SPKI) that verifies its requests.
    pub rsa_public_key: String,
}

/// A merchant to onboard under `sys_id`.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    pub sys_id: String,
    /// Display name.
    pub name: String,
    /// Short name shown to payers.
    pub short_name: Option<String>,
    /// Enterprise or individual.
    pub kind: MerchantKind,
    /// Set when the merchant calls the API as its own `sys_id` (= its `mer_id`).
    pub rsa_public_key: Option<String>,
    /// Comma-separated retry delays in seconds overriding the platform's schedule.
    pub notify_schedule: Option<String>,
}

/// Who is calling with a given `sys_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A service provider.
    ServiceProvider(service_provider::Model),
    /// A merchant calling for itself: its `mer_id` is the `sys_id`.
    Merchant(merchant::Model),
}

/// Inserts an active service provider. `Duplicate` when the `sys_id` is taken.
pub async fn insert_service_provider(
    conn: &impl ConnectionTrait,
    new: &NewServiceProvider,
    now: DateTime<Utc>,
) -> Result<service_provider::Model, StoreError> {
    service_provider::ActiveModel {
        sys_id: Set(new.sys_id.clone()),
        product_id: Set(new.product_id.clone()),
        name: Set(new.name.clone()),
        rsa_public_key: Set(new.rsa_public_key.clone()),
        status: Set(RecordStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("service provider", e))
}

/// The service provider with `sys_id`.
pub async fn find_service_provider(
    conn: &impl ConnectionTrait,
    sys_id: &str,
) -> Result<Option<service_provider::Model>, StoreError> {
    Ok(crate::unique_row(
        service_provider::Entity::find()
            .filter(service_provider::Column::SysId.eq(sys_id))
            .all(conn)
            .await?,
    ))
}

/// Inserts an active merchant, approved (made directly, as the demo's seeding does: nothing to
/// review). `Duplicate` when the `mer_id` is taken; a database error when `sys_id` is not a
/// service provider (foreign key).
pub async fn insert_merchant(
    conn: &impl ConnectionTrait,
    new: &NewMerchant,
    now: DateTime<Utc>,
) -> Result<merchant::Model, StoreError> {
    insert_merchant_in_review(conn, new, ApplyStatus::Approved, now).await
}

/// Inserts an active merchant whose onboarding application is in `apply_status` (P for one
/// just applied for). `Duplicate` (what: "merchant") when the `mer_id` is taken.
pub(crate) async fn insert_merchant_in_review(
    conn: &impl ConnectionTrait,
    new: &NewMerchant,
    apply_status: ApplyStatus,
    now: DateTime<Utc>,
) -> Result<merchant::Model, StoreError> {
    merchant::ActiveModel {
        mer_id: Set(new.mer_id.clone()),
        sys_id: Set(new.sys_id.clone()),
        name: Set(new.name.clone()),
        short_name: Set(new.short_name.clone()),
        kind: Set(new.kind),
        status: Set(RecordStatus::Active),
        rsa_public_key: Set(new.rsa_public_key.clone()),
        notify_schedule: Set(new.notify_schedule.clone()),
        apply_status: Set(apply_status),
        frozen_at: Set(None),
        frozen_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("merchant", e))
}

/// The merchant with `mer_id`.
pub async fn find_merchant(
    conn: &impl ConnectionTrait,
    mer_id: &str,
) -> Result<Option<merchant::Model>, StoreError> {
    Ok(crate::unique_row(
        merchant::Entity::find()
            .filter(merchant::Column::MerId.eq(mer_id))
            .all(conn)
            .await?,
    ))
}

/// The merchants a service provider onboarded, oldest first.
pub async fn list_merchants_of(
    conn: &impl ConnectionTrait,
    sys_id: &str,
) -> Result<Vec<merchant::Model>, StoreError> {
    Ok(merchant::Entity::find()
        .filter(merchant::Column::SysId.eq(sys_id))
        .order_by_asc(merchant::Column::Id)
        .all(conn)
        .await?)
}

/// Sets a merchant's status; `false` when there is no such merchant.
pub async fn set_merchant_status(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    status: RecordStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = merchant::Entity::update_many()
        .col_expr(merchant::Column::Status, Expr::value(status.as_str()))
        .col_expr(merchant::Column::UpdatedAt, Expr::value(now))
        .filter(merchant::Column::MerId.eq(mer_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Freezes merchant `mer_id` with `reason` (`Some`) or unfreezes it (`None`): a frozen
/// merchant cannot take payments. Compare-and-set: `false`, and nothing written, when there is
/// no such merchant or it is already in the state asked for.
pub async fn set_frozen(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = merchant::Entity::update_many()
        .col_expr(merchant::Column::FrozenAt, Expr::value(reason.map(|_| now)))
        .col_expr(
            merchant::Column::FrozenReason,
            Expr::value(reason.map(str::to_owned)),
        )
        .col_expr(merchant::Column::UpdatedAt, Expr::value(now))
        .filter(merchant::Column::MerId.eq(mer_id));
    let q = match reason {
        Some(_) => q.filter(merchant::Column::FrozenAt.is_null()),
        None => q.filter(merchant::Column::FrozenAt.is_not_null()),
    };
    Ok(q.exec(conn).await?.rows_affected == 1)
}

/// Which merchants a listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct MerchantFilter {
    /// Only this review state.
    pub apply_status: Option<ApplyStatus>,
    /// Only frozen (`true`) or only not frozen (`false`) merchants.
    pub frozen: Option<bool>,
    /// Only this service provider's.
    pub sys_id: Option<String>,
    /// Only enterprises or only individuals.
    pub kind: Option<MerchantKind>,
}

/// Merchants matching `filter`, oldest first, at most `limit`.
pub async fn list_merchants(
    conn: &impl ConnectionTrait,
    filter: &MerchantFilter,
    limit: u64,
) -> Result<Vec<merchant::Model>, StoreError> {
    Ok(page_merchants(conn, filter, 0, limit).await?.0)
}

/// One page of the merchants matching `filter`, oldest first: skipping the first `offset`
/// rows, at most `limit`, together with how many match in all (for the console's pager).
pub async fn page_merchants(
    conn: &impl ConnectionTrait,
    filter: &MerchantFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<merchant::Model>, u64), StoreError> {
    let mut c = Condition::all();
    if let Some(status) = filter.apply_status {
        c = c.add(merchant::Column::ApplyStatus.eq(status.as_str()));
    }
    match filter.frozen {
        Some(true) => c = c.add(merchant::Column::FrozenAt.is_not_null()),
        Some(false) => c = c.add(merchant::Column::FrozenAt.is_null()),
        None => {}
    }
    if let Some(sys_id) = &filter.sys_id {
        c = c.add(merchant::Column::SysId.eq(sys_id.as_str()));
    }
    if let Some(kind) = filter.kind {
        c = c.add(merchant::Column::Kind.eq(kind.as_str()));
    }
    oldest_first_page::<merchant::Entity>(conn, c, merchant::Column::Id, offset, limit).await
}

/// One page of the rows of `E` matching `condition`, by `id` ascending (oldest first):
/// skipping `offset` rows, at most `limit`, with how many match in all.
pub(crate) async fn oldest_first_page<E>(
    conn: &impl ConnectionTrait,
    condition: Condition,
    id: E::Column,
    offset: u64,
    limit: u64,
) -> Result<(Vec<E::Model>, u64), StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let rows = E::find()
        .filter(condition.clone())
        .order_by_asc(id)
        .offset(offset)
        .limit(limit)
        .all(conn)
        .await?;
    let total = E::find().filter(condition).count(conn).await?;
    Ok((rows, total))
}

/// Every service provider, by `sys_id`.
pub async fn list_service_providers(
    conn: &impl ConnectionTrait,
) -> Result<Vec<service_provider::Model>, StoreError> {
    Ok(service_provider::Entity::find()
        .order_by_asc(service_provider::Column::SysId)
        .all(conn)
        .await?)
}

/// Sets a service provider's status; `false` when there is no such service provider.
pub async fn set_service_provider_status(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    status: RecordStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = service_provider::Entity::update_many()
        .col_expr(
            service_provider::Column::Status,
            Expr::value(status.as_str()),
        )
        .col_expr(service_provider::Column::UpdatedAt, Expr::value(now))
        .filter(service_provider::Column::SysId.eq(sys_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Makes `new_key` the current key of service provider `sys_id` and keeps the key it replaces,
/// `expected_current`, as the previous key, verifying until `previous_valid_until` (UTC); a
/// previous key it had before is dropped. Compare-and-set: `false`, and nothing written, when
/// there is no such provider or its current key is no longer `expected_current` (another
/// replacement got in first).
pub async fn replace_service_provider_key(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    expected_current: &str,
    new_key: &str,
    previous_valid_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = service_provider::Entity::update_many()
        .col_expr(service_provider::Column::RsaPublicKey, Expr::value(new_key))
        .col_expr(
            service_provider::Column::PreviousRsaPublicKey,
            Expr::value(expected_current),
        )
        .col_expr(
            service_provider::Column::PreviousKeyValidUntil,
            Expr::value(previous_valid_until),
        )
        .col_expr(service_provider::Column::UpdatedAt, Expr::value(now))
        .filter(service_provider::Column::SysId.eq(sys_id))
        .filter(service_provider::Column::RsaPublicKey.eq(expected_current))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Drops the previous key of service provider `sys_id` (ends the overlap window of its last key
/// replacement): only its current key verifies from now on. `false` when there is no such
/// provider or it has no previous key.
pub async fn clear_service_provider_previous_key(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = service_provider::Entity::update_many()
        .col_expr(
            service_provider::Column::PreviousRsaPublicKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            service_provider::Column::PreviousKeyValidUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(service_provider::Column::UpdatedAt, Expr::value(now))
        .filter(service_provider::Column::SysId.eq(sys_id))
        .filter(service_provider::Column::PreviousRsaPublicKey.is_not_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The service provider `sys_id` together with its merchant `mer_id`, in one query (the
/// merchant API's common case, issue 16): `None` when there is no such provider, no such
/// merchant, or the merchant is another provider's — then look them up one by one
/// ([`find_caller`], [`find_merchant`]). Status is returned, not checked.
pub async fn find_provider_with_merchant(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    mer_id: &str,
) -> Result<Option<(service_provider::Model, merchant::Model)>, StoreError> {
    let owns: RelationDef = service_provider::Entity::belongs_to(merchant::Entity)
        .from(service_provider::Column::SysId)
        .to(merchant::Column::SysId)
        .into();
    let found = service_provider::Entity::find()
        .select_also(merchant::Entity)
        .join(JoinType::InnerJoin, owns)
        .filter(service_provider::Column::SysId.eq(sys_id))
        .filter(merchant::Column::MerId.eq(mer_id))
        .all(conn)
        .await?;
    let found = crate::unique_row(found);
    Ok(found.and_then(|(sp, m)| m.map(|m| (sp, m))))
}

/// Finds the caller for a request's `sys_id`: a service provider first, else a merchant that
/// registered its own key. Status is returned, not checked: the caller decides what is allowed.
pub async fn find_caller(
    conn: &impl ConnectionTrait,
    sys_id: &str,
) -> Result<Option<Caller>, StoreError> {
    if let Some(sp) = find_service_provider(conn, sys_id).await? {
        return Ok(Some(Caller::ServiceProvider(sp)));
    }
    Ok(find_merchant(conn, sys_id)
        .await?
        .filter(|m| m.rsa_public_key.is_some())
        .map(Caller::Merchant))
}
