//! Small read-through caches of data that changes rarely but is read on every POS
//! request: the station of a POS token and the product list. Entries live a few seconds,
//! so a revoked token takes effect within five seconds; a product code not in the
//! cached list is looked up again at once, so a new product is found immediately.

use forecourt_store::{Product, Station, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN_TTL: Duration = Duration::from_secs(5);
const PRODUCTS_TTL: Duration = Duration::from_secs(30);
/// The most POS tokens kept; beyond it the cache starts afresh.
const TOKENS_MAX: usize = 10_000;

#[derive(Default)]
pub struct Cache {
    tokens: Mutex<HashMap<String, (Station, Instant)>>,
    products: Mutex<Option<(HashMap<String, Product>, Instant)>>,
    /// The loyalty configuration in force.
    pub loyalty: crate::loyalty::ConfigCache,
    /// The members' sales for analytics, with the version they were read at.
    member_sales: tokio::sync::Mutex<Option<(Version, Arc<MemberSales>)>>,
    /// The members' analytics for segments, with the member sales they were computed
    /// from (recomputed when those are replaced).
    pub segments: crate::segments::AnalysedSlot,
}

type Version = (i64, i64, i64, i64);

/// Every member sale `(customer, at_us, net_fen, volume_ml)` and the members who never
/// bought, as [`Store::member_sales`] reads them.
pub type MemberSales = (Vec<(String, i64, i64, i64)>, Vec<String>);

impl Cache {
    /// The station of a live POS token (by the token's hash).
    pub async fn pos_station(
        &self,
        store: &Store,
        token_hash: &str,
    ) -> Result<Option<Station>, StoreError> {
        if let Some((station, at)) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token_hash)
        {
            if at.elapsed() < TOKEN_TTL {
                return Ok(Some(station.clone()));
            }
        }
        let station = store.pos_token_station(token_hash).await?;
        if let Some(s) = &station {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if tokens.len() >= TOKENS_MAX {
                tokens.clear();
            }
            tokens.insert(token_hash.to_string(), (s.clone(), Instant::now()));
        }
        Ok(station)
    }

    /// The product with this code.
    pub async fn product(&self, store: &Store, code: &str) -> Result<Option<Product>, StoreError> {
        {
            let products = self.products.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((map, at)) = products.as_ref() {
                if at.elapsed() < PRODUCTS_TTL {
                    if let Some(p) = map.get(code) {
                        return Ok(Some(p.clone()));
                    }
                }
            }
        }
        // A miss or a stale list: reload, so that a new product is found at once.
        let map: HashMap<String, Product> = store
            .products()
            .await?
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect();
        let found = map.get(code).cloned();
        *self.products.lock().unwrap_or_else(|e| e.into_inner()) = Some((map, Instant::now()));
        Ok(found)
    }

    /// The members' sales, read again only when a sale, refund or customer has been
    /// added since (reading them takes seconds on a network's year; checking takes
    /// milliseconds). Callers at the same time wait for one read.
    pub async fn member_sales(&self, store: &Store) -> Result<Arc<MemberSales>, StoreError> {
        let mut slot = self.member_sales.lock().await;
        let version = store.member_sales_version().await?;
        if let Some((v, data)) = slot.as_ref() {
            if *v == version {
                return Ok(data.clone());
            }
        }
        let data = Arc::new(store.member_sales().await?);
        *slot = Some((version, data.clone()));
        Ok(data)
    }
}
