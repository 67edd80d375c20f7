//! The database a console handler uses: the server's [`ApiState`](crate::ApiState).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use nkpay_store::Db;

use super::error::AdminError;
use crate::ApiState;

pub(crate) struct ConsoleDb(pub Db);

impl FromRequest for ConsoleDb {
    type Error = AdminError;
    type Future = Ready<Result<ConsoleDb, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let db = req.app_data::<web::Data<ApiState>>().map(|s| s.db.clone());
        ready(db.map(ConsoleDb).ok_or_else(|| {
            tracing::error!("console API mounted without ApiState app data");
            AdminError::Internal
        }))
    }
}
