//! Bulk posting: sales and recharges decided one by one with the POS rules and written
//! many per transaction (group commit). The simulator, the demo and the sales import use
//! it; live tills use the POS API.
//!
//! Each sale is decided as at the till: the products of its lines, who it is for, the
//! tier discount and points from [`forecourt_core::pricing`], the card's state and rules
//! from [`forecourt_core::limits`], the paid/bonus split from
//! [`forecourt_core::ledger::split_card_debit`] and the policy of every account from
//! [`forecourt_core::ledger::check_debit`]. The poster keeps the balances it read and
//! what its batch has moved since, so that a batch of thousands of sales needs no read
//! per sale; [`Tx::write_batch`](forecourt_store::Tx::write_batch) re-checks every
//! account's policy when it writes, so a balance that moved meanwhile (a till selling on
//! the same card during an import) makes the batch fail whole rather than overdraw.
//!
//! A refused sale changes nothing: the decision is taken on copies and applied only when
//! every check has passed.

use crate::clock;
use crate::error::AppError;
use crate::loyalty::LoyaltyConfig;
use crate::pos::{card_facts, fuel_volume, rule_context, rule_lines, tier_benefit};
use crate::spend::Presented;
use forecourt_core::card::{CardKind, CardNo, CardState};
use forecourt_core::ledger::{account, Policy, Totals, Unit};
use forecourt_core::limits::Usage;
use forecourt_core::loyalty;
use forecourt_core::person::{Phone, Plate};
use forecourt_core::pricing::{self, LineInput, ProductKind, TierBenefit};
use forecourt_core::sale::{self, CardSnap, CreditFacts, Method, PaymentIn, PaymentsSnapshot};
use forecourt_core::{DomainError, Fen};
use forecourt_store::bulk::{is_constrained, Batch, MemberRow};
use forecourt_store::{Card, Product, RechargePromotion, Station, Store, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Who a sale is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    Card(String),
    Phone(String),
    Plate(String),
    Member(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIn {
    pub product_code: String,
    /// Millilitres of fuel.
    pub volume_ml: Option<i64>,
    /// Units of an item (or Wh of charging).
    pub quantity: Option<i64>,
    pub unit_price_fen: i64,
    /// The amount the till charged, which wins over the computed one.
    pub amount_fen: Option<i64>,
    pub pump_no: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayIn {
    /// card | cash | wechat | alipay | bank_card | credit
    pub method: String,
    /// `None`: whatever the sale's net amount leaves after the other payments (the
    /// simulator does not know the tier discount in advance).
    pub amount_fen: Option<i64>,
    pub card_no: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleIn {
    pub station_code: String,
    pub pos_txn_id: String,
    pub occurred_at: i64,
    pub who: Option<Who>,
    pub plate: Option<String>,
    pub lines: Vec<LineIn>,
    pub payments: Vec<PayIn>,
}

/// What a posted sale came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleOut {
    pub sale_id: String,
    pub net_fen: i64,
    pub points: i64,
    pub flags: usize,
}

/// Where ids and `created_at` come from.
enum Ids {
    /// Fresh UUIDv7 and the clock: imports.
    Live,
    /// From a seeded stream and the event's own time: the simulator, reproducible.
    Seeded(Box<ChaCha8Rng>),
}

impl Ids {
    fn id(&mut self, at: i64) -> String {
        match self {
            Ids::Live => forecourt_store::new_id(),
            Ids::Seeded(rng) => {
                let random: [u8; 10] = rng.gen();
                uuid::Builder::from_unix_timestamp_millis((at / 1000).max(0) as u64, &random)
                    .into_uuid()
                    .to_string()
            }
        }
    }

    fn created_at(&self, at: i64) -> i64 {
        match self {
            Ids::Live => forecourt_store::now_us(),
            Ids::Seeded(_) => at,
        }
    }
}

#[derive(Debug, Clone)]
struct Member {
    customer_id: String,
    tier: Option<TierBenefit>,
    tags: Vec<String>,
    birthday: Option<String>,
    referral_pending: bool,
}

/// Decides sales and recharges and collects them into batches.
pub struct Poster {
    store: Store,
    ids: Ids,
    stations: HashMap<String, Station>,
    products: HashMap<String, Product>,
    tiers: HashMap<String, TierBenefit>,
    loyalty: Arc<LoyaltyConfig>,
    promotions: Vec<RechargePromotion>,
    cards: HashMap<String, Option<Card>>,
    cards_by_id: HashMap<String, Card>,
    members: HashMap<String, Option<Member>>,
    lookups: HashMap<Who, Vec<String>>,
    accounts: HashMap<String, (Policy, Totals)>,
    usage: HashMap<String, Vec<(i64, i64, i64, i64)>>,
    /// (station_id, pos_txn_id) of the sales and recharges in the batch.
    keys: HashSet<(String, String)>,
    /// The same of the batch being written behind.
    keys_writing: HashSet<(String, String)>,
    batch: Batch,
    /// Whether to look for a sale with the same key already in the database.
    check_existing: bool,
    /// Journal keys known to be in the database, and the keys whose absence was looked
    /// up with them (see [`Poster::prefetch_keys`]).
    existing: HashSet<String>,
    looked_up: HashSet<String>,
    /// A batch being written while the next is decided (see [`Poster::flush_behind`]).
    writing: Option<tokio::task::JoinHandle<Result<usize, StoreError>>>,
}

impl Poster {
    /// A poster for an import: fresh ids, the clock for `created_at`, and a look for
    /// each sale's key in the database.
    pub async fn live(store: &Store) -> Result<Self, StoreError> {
        Self::new(store, Ids::Live, true).await
    }

    /// A poster for the simulator: ids from `seed`, `created_at` the event's time, and
    /// no look for existing keys (the database was empty).
    pub async fn seeded(store: &Store, seed: u64) -> Result<Self, StoreError> {
        Self::new(
            store,
            Ids::Seeded(Box::new(ChaCha8Rng::seed_from_u64(seed))),
            false,
        )
        .await
    }

    async fn new(store: &Store, ids: Ids, check_existing: bool) -> Result<Self, StoreError> {
        let stations = store
            .stations()
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect();
        let products = store
            .products()
            .await?
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect();
        let tiers = store
            .tiers()
            .await?
            .iter()
            .map(|t| (t.code.clone(), tier_benefit(t)))
            .collect();
        Ok(Self {
            store: store.clone(),
            ids,
            stations,
            products,
            tiers,
            loyalty: Arc::new(
                crate::loyalty::load_config(store)
                    .await
                    .map_err(|e| StoreError::Config(e.message))?,
            ),
            promotions: store.recharge_promotions().await?,
            cards: HashMap::new(),
            cards_by_id: HashMap::new(),
            members: HashMap::new(),
            lookups: HashMap::new(),
            accounts: HashMap::new(),
            usage: HashMap::new(),
            keys: HashSet::new(),
            keys_writing: HashSet::new(),
            batch: Batch::new(),
            check_existing,
            existing: HashSet::new(),
            looked_up: HashSet::new(),
            writing: None,
        })
    }

    /// Tells the poster about a card it need not read (the simulator just wrote it),
    /// with its accounts at zero.
    pub fn know_new_card(&mut self, card: Card) {
        for name in [
            account::card_paid(&card.card_id),
            account::card_bonus(&card.card_id),
        ] {
            self.accounts
                .insert(name, (Policy::NoOverdraft, Totals::default()));
        }
        self.usage.insert(card.card_id.clone(), Vec::new());
        self.cards_by_id.insert(card.card_id.clone(), card.clone());
        self.cards.insert(card.card_no.clone(), Some(card));
    }

    /// Tells the poster about a new customer in the standard tier, with no points.
    pub fn know_new_customer(&mut self, customer_id: &str, tier_code: &str) {
        self.accounts.insert(
            account::customer_points(customer_id),
            (Policy::NoOverdraft, Totals::default()),
        );
        let tier = self.tiers.get(tier_code).cloned();
        self.members.insert(
            customer_id.to_string(),
            Some(Member {
                customer_id: customer_id.to_string(),
                tier,
                tags: Vec::new(),
                birthday: None,
                referral_pending: false,
            }),
        );
    }

    /// Looks up in one query which of these sales (station code, pos_txn_id) are in the
    /// database already, so that deciding them needs no read each.
    pub async fn prefetch_keys(&mut self, sales: &[(&str, &str)]) -> Result<(), StoreError> {
        let keys: Vec<String> = sales
            .iter()
            .filter_map(|(code, txn)| {
                self.stations
                    .get(*code)
                    .map(|s| format!("sale:{}:{txn}", s.station_id))
            })
            .collect();
        self.existing.clear();
        self.looked_up.clear();
        self.existing
            .extend(self.store.existing_journal_keys(&keys).await?);
        self.looked_up.extend(keys);
        Ok(())
    }

    /// Reads in a few queries the cards these sales name (and their main cards), their
    /// accounts, and their holders' tiers and points accounts, so that deciding the sales
    /// needs no read each.
    pub async fn prefetch_cards(&mut self, card_nos: &[String]) -> Result<(), StoreError> {
        let wanted: Vec<String> = card_nos
            .iter()
            .filter_map(|n| CardNo::parse(n).ok().map(|c| c.as_str().to_string()))
            .filter(|n| !self.cards.contains_key(n))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut found = self.store.cards_where_in("card_no", &wanted).await?;
        let mains: Vec<String> = found
            .iter()
            .filter_map(|c| c.main_card_id.clone())
            .filter(|id| !self.cards_by_id.contains_key(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        found.extend(self.store.cards_where_in("card_id", &mains).await?);
        for no in &wanted {
            self.cards.entry(no.clone()).or_insert(None);
        }
        let mut accounts = Vec::new();
        let mut customers = Vec::new();
        for c in found {
            accounts.push(account::card_paid(&c.card_id));
            accounts.push(account::card_bonus(&c.card_id));
            if let Some(id) = &c.customer_id {
                if !self.members.contains_key(id) {
                    customers.push(id.clone());
                    accounts.push(account::customer_points(id));
                }
            }
            self.cards_by_id.insert(c.card_id.clone(), c.clone());
            self.cards.insert(c.card_no.clone(), Some(c));
        }
        accounts.retain(|a| !self.accounts.contains_key(a));
        for (name, policy, totals) in self.store.accounts_where_in(&accounts).await? {
            self.accounts.insert(name, (policy, totals));
        }
        customers.sort();
        customers.dedup();
        for m in self.store.member_rows(&customers).await? {
            let member = self.member_of(m);
            self.members
                .insert(member.customer_id.clone(), Some(member));
        }
        Ok(())
    }

    /// Forgets the balances, usage and cards it read, to read them again: after a write
    /// that did not go through this poster.
    pub fn forget_balances(&mut self) {
        // A sale through the POS may also move a member's tier or settle a referral.
        self.members.clear();
        self.lookups.clear();
        self.accounts.clear();
        self.usage.clear();
        self.cards.clear();
        self.cards_by_id.clear();
    }

    /// Sales and recharges waiting in the batch.
    pub fn pending(&self) -> usize {
        self.batch.events
    }

    /// Starts writing the batch in its own task and returns at once, so that the next
    /// batch is decided while this one is written (the two cores of a small server each
    /// get one). The poster decides the next batch on the balances this one moved, so an
    /// error (reported by the next call, or by [`Poster::flush`]) means that neither this
    /// batch nor the one decided after it may be written: the caller stops there; the
    /// database holds the batches before.
    pub async fn flush_behind(&mut self) -> Result<(), StoreError> {
        self.finish_writing().await?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        // The keys of the batch being written stay known until it is committed, so that
        // a key repeated in the next batch is seen as posted.
        self.keys_writing = std::mem::take(&mut self.keys);
        let store = self.store.clone();
        self.writing = Some(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            tx.write_batch(&batch).await?;
            tx.commit().await?;
            Ok(batch.events)
        }));
        Ok(())
    }

    /// Waits for the batch being written behind, if any.
    pub async fn finish_writing(&mut self) -> Result<usize, StoreError> {
        let result = match self.writing.take() {
            Some(handle) => handle
                .await
                .map_err(|e| StoreError::Config(format!("the batch writer stopped: {e}")))?,
            None => Ok(0),
        };
        self.keys_writing.clear();
        if result.is_err() {
            // What the poster knows may include the failed batch.
            self.forget_balances();
        }
        result
    }

    /// Writes the batch in one transaction and starts a new one. Returns how many sales
    /// and recharges it wrote. On an error nothing of the batch is written, and the
    /// poster forgets every balance it knew (they may be wrong now).
    pub async fn flush(&mut self) -> Result<usize, StoreError> {
        self.flush_behind().await?;
        self.finish_writing().await
    }

    fn station(&self, code: &str) -> Result<Station, AppError> {
        self.stations
            .get(code)
            .cloned()
            .ok_or_else(|| AppError::new("unknown_station", format!("no station {code}")))
    }

    async fn card(&mut self, no: &str) -> Result<Card, AppError> {
        let no = CardNo::parse(no)?.as_str().to_string();
        if !self.cards.contains_key(&no) {
            let card = self.store.card_by_no(&no).await?;
            if let Some(c) = &card {
                self.cards_by_id.insert(c.card_id.clone(), c.clone());
            }
            self.cards.insert(no.clone(), card);
        }
        self.cards[&no]
            .clone()
            .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))
    }

    async fn card_by_id(&mut self, id: &str) -> Result<Card, AppError> {
        if let Some(c) = self.cards_by_id.get(id) {
            return Ok(c.clone());
        }
        let c = self
            .store
            .card_by_id(id)
            .await?
            .ok_or(StoreError::NotFound("card"))?;
        self.cards_by_id.insert(id.to_string(), c.clone());
        self.cards.insert(c.card_no.clone(), Some(c.clone()));
        Ok(c)
    }

    fn member_of(&self, m: MemberRow) -> Member {
        Member {
            tier: self.tiers.get(&m.tier_code).cloned(),
            customer_id: m.customer_id,
            tags: m.tags,
            birthday: m.birthday,
            referral_pending: m.referral_pending,
        }
    }

    async fn member(&mut self, customer_id: &str) -> Result<Option<Member>, AppError> {
        if !self.members.contains_key(customer_id) {
            let m = self
                .store
                .member_rows(&[customer_id.to_string()])
                .await?
                .pop()
                .map(|m| self.member_of(m));
            self.members.insert(customer_id.to_string(), m);
        }
        Ok(self.members[customer_id].clone())
    }

    /// Whether the points rules need a member's history (visits, litres this month,
    /// what each rule gave today): the bulk path does not keep it, so such sales go
    /// through the POS API.
    pub fn rules_need_history(&self) -> bool {
        let r = &self.loyalty.rules;
        r.needs_visits() || r.needs_month_volume() || r.needs_rule_points()
    }

    async fn totals(&mut self, name: &str) -> Result<(Policy, Totals), AppError> {
        if let Some(t) = self.accounts.get(name) {
            return Ok(*t);
        }
        let (_, policy, totals) = self
            .store
            .accounts_where_in(&[name.to_string()])
            .await?
            .pop()
            .ok_or_else(|| AppError::internal(format!("no ledger account {name}")))?;
        self.accounts.insert(name.to_string(), (policy, totals));
        Ok((policy, totals))
    }

    async fn usage_of(&mut self, card: &Card, local: &clock::Local) -> Result<Usage, AppError> {
        if !card.rules.depends_on_usage() {
            return Ok(Usage::default());
        }
        if !self.usage.contains_key(&card.card_id) {
            let rows = self.store.card_usage_rows(&card.card_id).await?;
            self.usage.insert(card.card_id.clone(), rows);
        }
        let mut u = Usage::default();
        for (at, sales, amount, volume) in &self.usage[&card.card_id] {
            if *at >= local.day_start_us && *at < local.day_end_us {
                u.sales_today += sales;
                u.amount_today_fen += amount;
                u.volume_today_ml += volume;
            }
            if *at >= local.month_start_us && *at < local.month_end_us {
                u.amount_month_fen += amount;
            }
        }
        Ok(u)
    }

    /// Who the sale is for: (customer, card shown, plate), as the POS identifies.
    async fn identify(
        &mut self,
        who: Option<&Who>,
    ) -> Result<(Option<Member>, Option<Card>, Option<String>), AppError> {
        let Some(who) = who else {
            return Ok((None, None, None));
        };
        let (ids, card, plate) = match who {
            Who::Card(no) => {
                let card = self.card(no).await?;
                (
                    card.customer_id.clone().into_iter().collect(),
                    Some(card),
                    None,
                )
            }
            other => {
                let key = match other {
                    Who::Phone(p) => Who::Phone(
                        Phone::parse(p)
                            .map_err(AppError::from)?
                            .as_str()
                            .to_string(),
                    ),
                    Who::Plate(p) => Who::Plate(
                        Plate::parse(p)
                            .map_err(AppError::from)?
                            .as_str()
                            .to_string(),
                    ),
                    m => m.clone(),
                };
                if !self.lookups.contains_key(&key) {
                    let ids = match &key {
                        Who::Phone(p) => self.store.customer_ids_by_phone(p).await?,
                        Who::Plate(p) => self.store.customer_ids_by_plate(p).await?,
                        Who::Member(m) => self
                            .store
                            .customer_by_member_code(m)
                            .await?
                            .map(|c| c.customer_id)
                            .into_iter()
                            .collect(),
                        Who::Card(_) => unreachable!("cards are handled above"),
                    };
                    self.lookups.insert(key.clone(), ids);
                }
                let plate = match &key {
                    Who::Plate(p) => Some(p.clone()),
                    _ => None,
                };
                (self.lookups[&key].clone(), None, plate)
            }
        };
        let member = match ids.as_slice() {
            [one] => self.member(one).await?,
            _ => None,
        };
        Ok((member, card, plate))
    }

    async fn line_inputs(&self, lines: &[LineIn]) -> Result<Vec<LineInput>, AppError> {
        if lines.is_empty() || lines.len() > pricing::LINES_MAX {
            return Err(AppError::validation(
                "lines",
                format!("1 to {} lines", pricing::LINES_MAX),
            ));
        }
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                crate::pos::one_measure(i, l.volume_ml, l.quantity)?;
                let p = self.products.get(&l.product_code).ok_or_else(|| {
                    AppError::new("unknown_product", format!("no product {}", l.product_code))
                })?;
                Ok(LineInput {
                    product_code: p.code.clone(),
                    kind: ProductKind::parse(&p.kind)?,
                    category: p.category.clone(),
                    volume_ml: l.volume_ml,
                    quantity: l.quantity,
                    unit_price_fen: l.unit_price_fen,
                    amount_fen: l.amount_fen,
                })
            })
            .collect()
    }

    /// Whether a sale or recharge with this key is in the batch or the database.
    async fn seen(
        &mut self,
        station_id: &str,
        pos_txn_id: &str,
        kind: &str,
    ) -> Result<bool, AppError> {
        let key = (station_id.to_string(), format!("{kind}:{pos_txn_id}"));
        if self.keys.contains(&key) || self.keys_writing.contains(&key) {
            return Ok(true);
        }
        if self.check_existing {
            let key = format!("{kind}:{station_id}:{pos_txn_id}");
            if self.looked_up.contains(&key) {
                return Ok(self.existing.contains(&key));
            }
            return Ok(!self.store.existing_journal_keys(&[key]).await?.is_empty());
        }
        Ok(false)
    }

    /// Decides a sale and adds it to the batch; `Ok(None)` when a sale with its key was
    /// posted before. A refusal changes nothing.
    pub async fn sale(&mut self, s: &SaleIn) -> Result<Option<SaleOut>, AppError> {
        let station = self.station(&s.station_code)?;
        if s.pos_txn_id.is_empty()
            || s.pos_txn_id.len() > 64
            || !s.pos_txn_id.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(AppError::validation(
                "pos_txn_id",
                "1 to 64 printable ASCII characters",
            ));
        }
        if self
            .seen(&station.station_id, &s.pos_txn_id, "sale")
            .await?
        {
            return Ok(None);
        }
        let at = s.occurred_at;
        let inputs = self.line_inputs(&s.lines).await?;
        let (member, shown_card, plate) = self.identify(s.who.as_ref()).await?;
        if member.as_ref().is_some_and(|m| m.referral_pending)
            || (member.is_some() && self.rules_need_history())
        {
            return Err(AppError::new(
                "unsupported",
                "a member with a pending referral, or points rules that need the member's history: posted through the POS API",
            ));
        }
        let tier = member.as_ref().and_then(|m| m.tier.clone());
        let priced = pricing::price_sale(&inputs, tier.as_ref())?;
        let net = priced.net_fen.0;
        let multiplier = tier
            .as_ref()
            .map(|t| t.points_multiplier_permille)
            .unwrap_or(1000);

        // Payments: amounts (the open one takes the rest), methods, sum.
        if s.payments.is_empty() || s.payments.len() > 8 {
            return Err(AppError::validation("payments", "1 to 8 payments"));
        }
        let fixed: i64 = s.payments.iter().filter_map(|p| p.amount_fen).sum();
        if s.payments.iter().filter(|p| p.amount_fen.is_none()).count() > 1 {
            return Err(AppError::validation(
                "payments",
                "at most one payment takes the rest",
            ));
        }
        let mut amounts = Vec::with_capacity(s.payments.len());
        for p in &s.payments {
            let a = p.amount_fen.unwrap_or(net - fixed);
            if a <= 0 || a > pricing::LINE_AMOUNT_FEN_MAX {
                return Err(AppError::validation(
                    "payments.amount_fen",
                    "a payment is a positive amount",
                ));
            }
            amounts.push(a);
        }
        let paid: i64 = amounts.iter().sum();
        if paid != net {
            return Err(DomainError::PaymentMismatch {
                net: Fen(net),
                paid: Fen(paid),
            }
            .into());
        }

        let local = clock::local(&station.time_zone, at);
        let methods = s
            .payments
            .iter()
            .map(|p| Method::parse(&p.method))
            .collect::<Result<Vec<_>, _>>()?;
        if methods.contains(&Method::Coupon) {
            return Err(AppError::new(
                "unsupported",
                "coupon payments are posted through the POS API, one by one",
            ));
        }
        // The snapshot, from what the poster knows: the cards of the card payments (and
        // their funding cards) with balances and usage, and the credit account.
        let mut cards: BTreeMap<String, CardSnap> = BTreeMap::new();
        let mut ins = Vec::with_capacity(s.payments.len());
        for ((p, m), amount) in s.payments.iter().zip(&methods).zip(&amounts) {
            let mut card_id = None;
            if *m == Method::Card {
                let card = match (&p.card_no, &shown_card) {
                    (Some(no), _) => self.card(no).await?,
                    (None, Some(c)) => c.clone(),
                    (None, None) => {
                        return Err(AppError::validation(
                            "payments.card_no",
                            "a card payment names its card",
                        ))
                    }
                };
                CardState::parse(&card.state)?.check_usable()?;
                if card.pin_hash.is_some() || card.rules.driver_pin_required() {
                    return Err(AppError::new(
                        "pin_required",
                        "the card needs its PIN, which a bulk posting cannot carry: post this sale through the POS API",
                    ));
                }
                let funding = self.funding(&card).await?;
                if !cards.contains_key(&funding.card_id) {
                    let (_, paid_t) = self.totals(&account::card_paid(&funding.card_id)).await?;
                    let (_, bonus_t) = self.totals(&account::card_bonus(&funding.card_id)).await?;
                    cards.insert(
                        funding.card_id.clone(),
                        CardSnap {
                            facts: card_facts(&funding)?,
                            paid_fen: paid_t.available(),
                            bonus_fen: bonus_t.available(),
                            usage: Usage::default(),
                        },
                    );
                }
                let usage = self.usage_of(&card, &local).await?;
                cards
                    .entry(card.card_id.clone())
                    .or_insert(CardSnap {
                        facts: card_facts(&card)?,
                        paid_fen: 0,
                        bonus_fen: 0,
                        usage: Usage::default(),
                    })
                    .usage = usage;
                card_id = Some(card.card_id.clone());
            }
            ins.push(PaymentIn {
                method: *m,
                amount_fen: *amount,
                card_id,
                pin_sent: false,
                coupon_code: None,
            });
        }
        let credit = match (&member, methods.contains(&Method::Credit)) {
            (Some(m), true) if self.store.credit_agreement(&m.customer_id).await?.is_some() => {
                let (policy, totals) = self
                    .totals(&account::customer_credit(&m.customer_id))
                    .await?;
                Some(CreditFacts { policy, totals })
            }
            _ => None,
        };
        let snapshot = PaymentsSnapshot {
            net_fen: net,
            at,
            now: at,
            station_id: station.station_id.clone(),
            customer_id: member.as_ref().map(|m| m.customer_id.clone()),
            shown_card: shown_card
                .as_ref()
                .map(|c| (c.card_id.clone(), c.customer_id.clone())),
            presented: match (&shown_card, &member) {
                (Some(c), _) => Presented::card(c.pin_hash.is_some(), false),
                (None, Some(_)) => Presented::Named,
                (None, None) => Presented::Nobody,
            },
            cards,
            pins_verified: BTreeSet::new(),
            pin_tries_max: u32::MAX,
            credit,
            authorization: None,
            coupons: BTreeMap::new(),
            discount_coupons: Vec::new(),
            discount_coupons_owned: false,
            rule_context: rule_context(
                &station,
                &local,
                s.plate.clone().or_else(|| plate.clone()),
                None,
                rule_lines(&priced),
            ),
        };
        // The decision: the same pure function as the POS.
        let decided = sale::decide_payments(&snapshot, &ins)?;
        let sale_id = self.ids.id(at);
        let journal_id = self.ids.id(at);
        let created = self.ids.created_at(at);
        // (debit, credit, amount, unit) decided.
        let mut transfers: Vec<(String, String, i64, &'static str)> = decided
            .transfers
            .iter()
            .map(|t| {
                (
                    t.debit.clone(),
                    t.credit.clone(),
                    t.amount,
                    match t.unit {
                        Unit::Fen => "fen",
                        Unit::Points => "points",
                    },
                )
            })
            .collect();
        let payments: Vec<_> = decided
            .records
            .iter()
            .map(|r| {
                (
                    r.payment_no,
                    r.method.as_str().to_string(),
                    r.amount_fen,
                    r.card_id.clone(),
                    r.funding_card_id.clone(),
                    r.from_paid_fen,
                    r.from_bonus_fen,
                )
            })
            .collect();
        let usage_rows = decided.usage.clone();
        let flags = decided.flags.clone();
        let card_used = decided.records.iter().find_map(|r| r.card_id.clone());
        // Points by the rules in force, as the POS decides them (the rules that need a
        // member's history never reach this path: see `rules_need_history`).
        let earned = match &member {
            Some(m) => {
                let local = clock::local(&station.time_zone, at);
                let facts = crate::loyalty::sale_facts(
                    at,
                    &local,
                    &station.code,
                    &priced,
                    0,
                    multiplier,
                    &m.tags,
                    m.birthday.as_deref(),
                );
                Some((loyalty::evaluate(&self.loyalty.rules, &facts), local.date))
            }
            None => None,
        };
        let points = earned.as_ref().map(|(e, _)| e.total).unwrap_or(0);
        if let Some(m) = &member {
            if points > 0 {
                transfers.push((
                    account::POINTS_ISSUED.into(),
                    account::customer_points(&m.customer_id),
                    points,
                    "points",
                ));
            }
        }
        // Every account that moves must exist, as in the POS.
        for (d, c, _, _) in &transfers {
            for name in [d, c] {
                if is_constrained(name) {
                    self.totals(name).await?;
                }
            }
        }

        // Decided: apply to the batch and to the balances known.
        let key = format!("sale:{}:{}", station.station_id, s.pos_txn_id);
        self.batch.journal.push([
            journal_id.as_str().into(),
            key.into(),
            "sale".into(),
            station.station_id.as_str().into(),
            at.into(),
            None::<String>.into(),
            created.into(),
        ]);
        for (d, c, amount, unit) in &transfers {
            let id = self.ids.id(at);
            self.batch
                .transfer(id, &journal_id, d, c, *amount, unit, "sale", created);
            if let Some((_, t)) = self.accounts.get_mut(d) {
                t.debits_posted += amount;
            }
            if let Some((_, t)) = self.accounts.get_mut(c) {
                t.credits_posted += amount;
            }
        }
        let customer_id = member.as_ref().map(|m| m.customer_id.clone());
        if let (Some(id), Some((e, day))) = (&customer_id, &earned) {
            if e.total > 0 {
                *self
                    .batch
                    .lots
                    .entry((id.clone(), day.to_string()))
                    .or_default() += e.total;
            }
        }
        let card_id = card_used.or_else(|| shown_card.as_ref().map(|c| c.card_id.clone()));
        self.batch.sale.push([
            sale_id.as_str().into(),
            station.station_id.as_str().into(),
            s.pos_txn_id.as_str().into(),
            journal_id.as_str().into(),
            customer_id.into(),
            card_id.into(),
            at.into(),
            priced.gross_fen.0.into(),
            priced.discount_fen.0.into(),
            net.into(),
            points.into(),
            tier.as_ref().map(|t| t.code.clone()).into(),
            serde_json::to_string(&flags)
                .map_err(AppError::internal)?
                .into(),
            created.into(),
            match &earned {
                Some((e, _)) => serde_json::to_string(&e.lines).map_err(AppError::internal)?,
                None => "[]".to_string(),
            }
            .into(),
        ]);
        for (i, (l, b)) in priced.lines.iter().zip(&s.lines).enumerate() {
            self.batch.sale_line.push([
                sale_id.as_str().into(),
                (i as i64 + 1).into(),
                l.product_code.as_str().into(),
                l.kind.as_str().into(),
                l.category.clone().into(),
                l.volume_ml.into(),
                l.quantity.into(),
                l.unit_price_fen.into(),
                l.gross_fen.0.into(),
                l.discount_fen.0.into(),
                l.net_fen.0.into(),
                b.pump_no.into(),
            ]);
        }
        for (no, method, amount, card_id, funding_id, fp, fb) in payments {
            self.batch.sale_payment.push([
                sale_id.as_str().into(),
                no.into(),
                method.into(),
                amount.into(),
                card_id.into(),
                funding_id.into(),
                None::<String>.into(),
                fp.into(),
                fb.into(),
            ]);
        }
        let volume = fuel_volume(&priced);
        for (card_id, amount) in usage_rows {
            self.batch.card_usage.push([
                card_id.as_str().into(),
                at.into(),
                1i64.into(),
                amount.into(),
                volume.into(),
                sale_id.as_str().into(),
            ]);
            if let Some(rows) = self.usage.get_mut(&card_id) {
                rows.push((at, 1, amount, volume));
            }
        }
        self.batch.events += 1;
        self.keys
            .insert((station.station_id.clone(), format!("sale:{}", s.pos_txn_id)));
        Ok(Some(SaleOut {
            sale_id,
            net_fen: net,
            points,
            flags: flags.len(),
        }))
    }

    /// What a card can spend now (its main card's balance for a pooled sub-card).
    pub async fn available_fen(&mut self, card_no: &str) -> Result<i64, AppError> {
        let card = self.card(card_no).await?;
        let funding = self.funding(&card).await?;
        let (_, p) = self.totals(&account::card_paid(&funding.card_id)).await?;
        let (_, b) = self.totals(&account::card_bonus(&funding.card_id)).await?;
        Ok(p.available() + b.available())
    }

    async fn funding(&mut self, card: &Card) -> Result<Card, AppError> {
        if card.kind == CardKind::FleetSub.as_str() {
            if let Some(main) = &card.main_card_id {
                let main = self.card_by_id(main).await?;
                if main.balance_mode == "pool" {
                    return Ok(main);
                }
            }
        }
        Ok(card.clone())
    }

    /// Decides a recharge as the POS does (promotion, face-value cap) and adds it to the
    /// batch; `Ok(None)` when one with its key was posted before. Returns the bonus.
    pub async fn recharge(
        &mut self,
        station_code: &str,
        pos_txn_id: &str,
        at: i64,
        card_no: &str,
        amount_fen: i64,
        method: &str,
    ) -> Result<Option<i64>, AppError> {
        let station = self.station(station_code)?;
        if self
            .seen(&station.station_id, pos_txn_id, "recharge")
            .await?
        {
            return Ok(None);
        }
        if amount_fen <= 0 || amount_fen > pricing::LINE_AMOUNT_FEN_MAX {
            return Err(AppError::validation(
                "amount_fen",
                "a recharge is a positive amount",
            ));
        }
        if !matches!(method, "cash" | "wechat" | "alipay" | "bank_card") {
            return Err(AppError::validation(
                "payments.method",
                "one of cash, wechat, alipay, bank_card",
            ));
        }
        let card = self.card(card_no).await?;
        CardState::parse(&card.state)?.check_usable()?;
        if self.funding(&card).await?.card_id != card.card_id {
            return Err(AppError::new(
                "card_not_usable",
                "a pooled sub-card spends its main card's balance: recharge the main card",
            ));
        }
        let promotion = self
            .promotions
            .iter()
            .filter(|p| {
                p.min_amount_fen <= amount_fen
                    && p.valid_from <= at
                    && p.valid_until.is_none_or(|u| u > at)
            })
            .max_by_key(|p| (p.bonus_fen, p.min_amount_fen))
            .cloned();
        let bonus = promotion.as_ref().map(|p| p.bonus_fen).unwrap_or(0);
        let paid_acc = account::card_paid(&card.card_id);
        let bonus_acc = account::card_bonus(&card.card_id);
        let (_, p) = self.totals(&paid_acc).await?;
        let (_, b) = self.totals(&bonus_acc).await?;
        let cap = card.cap_fen.or_else(|| {
            CardKind::parse(&card.kind)
                .ok()
                .and_then(|k| k.default_cap())
                .map(|f| f.0)
        });
        // Held money counts toward the cap, as at the till.
        let would_be = p.available()
            + b.available()
            + p.debits_pending
            + b.debits_pending
            + amount_fen
            + bonus;
        if let Some(cap) = cap {
            if would_be > cap {
                return Err(DomainError::FaceValueCap {
                    cap: Fen(cap),
                    would_be: Fen(would_be),
                }
                .into());
            }
        }
        let journal_id = self.ids.id(at);
        let created = self.ids.created_at(at);
        self.batch.journal.push([
            journal_id.as_str().into(),
            format!("recharge:{}:{}", station.station_id, pos_txn_id).into(),
            "recharge".into(),
            station.station_id.as_str().into(),
            at.into(),
            promotion.as_ref().map(|p| p.name.clone()).into(),
            created.into(),
        ]);
        let mut moves = vec![(account::tender(method), paid_acc, amount_fen)];
        if bonus > 0 {
            moves.push((
                account::RECHARGE_BONUS_EXPENSE.to_string(),
                bonus_acc,
                bonus,
            ));
        }
        for (d, c, amount) in moves {
            let id = self.ids.id(at);
            self.batch
                .transfer(id, &journal_id, &d, &c, amount, "fen", "recharge", created);
            if let Some((_, t)) = self.accounts.get_mut(&c) {
                t.credits_posted += amount;
            }
        }
        let recharge_id = self.ids.id(at);
        self.batch.recharge.push([
            recharge_id.into(),
            station.station_id.as_str().into(),
            pos_txn_id.into(),
            journal_id.as_str().into(),
            card.card_id.as_str().into(),
            amount_fen.into(),
            bonus.into(),
            promotion.as_ref().map(|p| p.promotion_id.clone()).into(),
            at.into(),
            created.into(),
        ]);
        self.batch.events += 1;
        self.keys
            .insert((station.station_id.clone(), format!("recharge:{pos_txn_id}")));
        Ok(Some(bonus))
    }
}
