//! Small read-through caches of data that changes rarely but is read on every POS
//! request: the station of a POS token and the product list. Entries live a few seconds,
//! so a revoked token takes effect within five seconds; a product code not in the
//! cached list is looked up again at once, so a new product is found immediately.

use forecourt_store::{Product, Station, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
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
}

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
}
