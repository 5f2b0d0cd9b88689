//! Rows as the rest of the program sees them.

use forecourt_core::limits::CardRules;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub region_id: String,
    pub code: String,
    pub name: String,
    pub province: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Station {
    pub station_id: String,
    pub code: String,
    pub name: String,
    pub region_id: Option<String>,
    pub region_code: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub time_zone: String,
    pub province: Option<String>,
    pub opening_hours: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewStation {
    pub code: String,
    pub name: String,
    pub region_code: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub time_zone: Option<String>,
    pub province: Option<String>,
    pub opening_hours: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub product_id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub category: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Price {
    pub station_code: String,
    pub product_code: String,
    pub unit_price_fen: i64,
    /// Microseconds since the epoch, UTC.
    pub effective_from: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    pub code: String,
    pub name: String,
    pub rank: i64,
    pub discount_fen_per_litre: i64,
    pub points_multiplier_permille: i64,
    pub qualify_spend_fen: i64,
    pub qualify_litres_ml: i64,
    pub qualify_visits: i64,
    pub monthly_car_washes: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub customer_id: String,
    pub member_code: String,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub industry: Option<String>,
    pub birthday: Option<String>,
    pub occupation: Option<String>,
    pub home_station_id: Option<String>,
    pub source: Option<String>,
    pub source_code: Option<String>,
    pub tier_code: String,
    pub consent_marketing: bool,
    pub consent_sensitive: bool,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub created_at: i64,
    pub account_manager_id: Option<String>,
    pub anonymized_at: Option<i64>,
    /// Resident ID number; held only with the customer's separate consent.
    pub id_number: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub member_code: String,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub industry: Option<String>,
    pub birthday: Option<String>,
    pub occupation: Option<String>,
    pub home_station_id: Option<String>,
    pub source: Option<String>,
    pub source_code: Option<String>,
    pub consent_marketing: bool,
    pub consent_sensitive: bool,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub account_manager_id: Option<String>,
    pub vehicles: Vec<NewVehicle>,
    pub contacts: Vec<NewContact>,
}

#[derive(Debug, Clone, Default)]
pub struct NewVehicle {
    pub plate: String,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_type: Option<String>,
    pub tank_capacity_ml: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub name: String,
    pub phone: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Vehicle {
    pub vehicle_id: String,
    pub plate: String,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_type: Option<String>,
    pub tank_capacity_ml: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub contact_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Card {
    pub card_id: String,
    pub card_no: String,
    pub kind: String,
    pub state: String,
    pub customer_id: Option<String>,
    pub main_card_id: Option<String>,
    pub balance_mode: String,
    pub cap_fen: Option<i64>,
    pub rules: CardRules,
    pub pin_hash: Option<String>,
    pub pin_failures: i64,
    pub replaced_by_card_id: Option<String>,
    pub created_at: i64,
    pub issued_station_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewCard {
    pub card_no: String,
    pub kind: String,
    pub customer_id: Option<String>,
    pub main_card_id: Option<String>,
    pub balance_mode: String,
    pub cap_fen: Option<i64>,
    pub rules: CardRules,
    pub pin_hash: Option<String>,
    pub issued_station_id: Option<String>,
}

/// A card's money: paid and bonus, as available to spend, and what is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CardBalance {
    pub paid_fen: i64,
    pub bonus_fen: i64,
    pub held_fen: i64,
}

impl CardBalance {
    pub fn available_fen(&self) -> i64 {
        self.paid_fen + self.bonus_fen
    }
}

#[derive(Debug, Clone)]
pub struct StaffUser {
    pub user_id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub scope: String,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct PosRequest {
    pub kind: String,
    pub request_hash: String,
    pub status: i64,
    pub response: String,
}

#[derive(Debug, Clone)]
pub struct SaleRecord {
    pub sale_id: String,
    pub station_id: String,
    pub customer_id: Option<String>,
    pub card_id: Option<String>,
    pub occurred_at: i64,
    pub gross_fen: i64,
    pub discount_fen: i64,
    pub net_fen: i64,
    pub points_earned: i64,
    pub refunded_fen: i64,
    pub points_reversed: i64,
    pub tier_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SaleLineRecord {
    pub line_no: i64,
    pub product_code: String,
    pub kind: String,
    pub category: Option<String>,
    pub volume_ml: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub gross_fen: i64,
    pub discount_fen: i64,
    pub net_fen: i64,
    pub refunded_fen: i64,
    pub pump_no: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SalePaymentRecord {
    pub payment_no: i64,
    pub method: String,
    pub amount_fen: i64,
    pub card_id: Option<String>,
    pub funding_card_id: Option<String>,
    pub coupon_code: Option<String>,
    pub from_paid_fen: i64,
    pub from_bonus_fen: i64,
    pub refunded_fen: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentSale {
    pub sale_id: String,
    pub station_code: String,
    pub occurred_at: i64,
    pub net_fen: i64,
    pub points_earned: i64,
    pub refunded_fen: i64,
}

#[derive(Debug, Clone)]
pub struct Authorization {
    pub authorization_id: String,
    pub station_id: String,
    pub card_id: String,
    pub journal_id: String,
    pub held_fen: i64,
    pub state: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RechargePromotion {
    pub promotion_id: String,
    pub name: String,
    pub min_amount_fen: i64,
    pub bonus_fen: i64,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
}
