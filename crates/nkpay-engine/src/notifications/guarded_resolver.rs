//! The DNS resolver the delivery client uses: it resolves a receiver's host and hands the
//! connector only addresses that pass the [`url_guard`](super::url_guard) policy. Because the
//! check and the connection use the same answer, a name that is re-pointed at an internal
//! address after the API accepted it (DNS rebinding) is refused at delivery.
//!
//! Literal IP hosts never reach a resolver; the delivery checks those itself.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::url_guard::{UrlPolicy, resolve_vetted};

#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port on each address.
            let addrs = resolve_vetted(&host, 0, &policy).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
