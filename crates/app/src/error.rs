//! The one place errors are named: a use case refuses with a code from [`ERROR_TABLE`],
//! a message for people and, for some codes, the figures behind the refusal. The HTTP
//! adapters (`forecourt-server`) turn it into `{"error": {"code", "message"}}` with the
//! status the table gives; the CLI prints it.

use forecourt_core::{CardState, DomainError};
use forecourt_store::StoreError;

/// Every error code the API returns: code, HTTP status, when it happens.
pub const ERROR_TABLE: &[(&str, u16, &str)] = &[
    (
        "invalid_json",
        400,
        "the body is not valid JSON or lacks a required field",
    ),
    (
        "unauthorized",
        401,
        "no token, or a token that is unknown, expired or revoked",
    ),
    ("invalid_credentials", 401, "wrong username or password"),
    (
        "insufficient_balance",
        402,
        "the card's balance does not cover the amount",
    ),
    (
        "credit_limit_exceeded",
        402,
        "the customer's credit (挂账) limit does not cover the amount",
    ),
    (
        "forbidden",
        403,
        "the caller's role or scope does not allow this",
    ),
    ("wrong_station", 403, "a POS token of another station"),
    ("not_found", 404, "no such route"),
    ("card_not_found", 404, "no card with this number"),
    ("customer_not_found", 404, "no customer with this id"),
    (
        "sale_not_found",
        404,
        "no sale with this id at this station",
    ),
    ("station_not_found", 404, "no station with this code"),
    (
        "loyalty_not_found",
        404,
        "no such points rule, coupon template, catalogue item, tier or redemption",
    ),
    (
        "authorization_not_found",
        404,
        "no pump authorisation with this id",
    ),
    ("ticket_not_found", 404, "no ticket with this id"),
    (
        "invalid_filter",
        400,
        "a segment's filter has an unknown key or a bad value; the message names it",
    ),
    ("segment_not_found", 404, "no segment with this id in your scope"),
    ("campaign_not_found", 404, "no campaign with this id in your scope"),
    ("calendar_not_found", 404, "no calendar with this code"),
    ("automation_not_found", 404, "no care automation of this kind"),
    (
        "survey_not_found",
        404,
        "no survey with this id, or no invitation with this token",
    ),
    (
        "survey_already_answered",
        409,
        "the invitation's token was used already (answered or declined): a token is single-use",
    ),
    ("survey_expired", 410, "the invitation's token has expired"),
    ("leaflet_not_found", 404, "no leaflet batch with this id"),
    (
        "promo_code_invalid",
        422,
        "no leaflet carries this code, or it is mistyped (its check character does not match)",
    ),
    (
        "promo_code_used",
        409,
        "the leaflet's single-use code was used already",
    ),
    ("partner_not_found", 404, "no partner or offer with this id"),
    (
        "offer_unavailable",
        422,
        "the offer is not valid today, its partner is inactive, or the member does not qualify",
    ),
    (
        "offer_limit_reached",
        409,
        "the member claimed the offer as often as it allows",
    ),
    (
        "redemption_not_found",
        404,
        "no redemption code of this partner",
    ),
    (
        "redemption_used",
        409,
        "the redemption code was redeemed already: a code is single-use",
    ),
    ("redemption_expired", 410, "the redemption code has expired"),
    (
        "method_not_allowed",
        405,
        "the route does not take this method",
    ),
    (
        "idempotency_conflict",
        409,
        "the pos_txn_id was used before with another body",
    ),
    (
        "conflict",
        409,
        "the record exists already (a username, code or number in use)",
    ),
    (
        "invalid_transition",
        409,
        "the ticket's workflow does not allow this step in its state; the message says why",
    ),
    (
        "callback_required",
        409,
        "a complaint is closed only after a callback outcome: satisfaction 1-5 with a note, or unreachable after three attempts",
    ),
    ("payload_too_large", 413, "the body is larger than allowed"),
    (
        "unsupported_media_type",
        415,
        "the body must be application/json",
    ),
    (
        "validation_failed",
        422,
        "a field is missing, malformed or out of range; the message names it",
    ),
    ("amount_out_of_range", 422, "an amount too large to compute"),
    (
        "unknown_product",
        422,
        "a line names a product code the network does not sell",
    ),
    ("unknown_station", 422, "station_code names no station"),
    (
        "payment_mismatch",
        422,
        "the payments do not add up to the net amount",
    ),
    ("card_frozen", 422, "the card is frozen"),
    ("card_lost", 422, "the card was reported lost"),
    ("card_cancelled", 422, "the card is cancelled"),
    ("card_replaced", 422, "the card was replaced by another"),
    (
        "card_not_usable",
        422,
        "the card cannot be used for this operation",
    ),
    ("card_has_balance", 422, "the card still holds money"),
    (
        "limit_exceeded",
        422,
        "a card rule (limit) declines the sale; the message names it",
    ),
    (
        "face_value_cap",
        422,
        "the recharge would take the card above its face-value cap",
    ),
    ("pin_required", 422, "the card needs its PIN"),
    (
        "occurred_at_out_of_range",
        422,
        "occurred_at is too far from the server's time for a live POS write; past sales go through the bulk import",
    ),
    (
        "cardholder_required",
        422,
        "spending a member's coupons, points, credit or money needs the member's card (and its PIN) or the member's own portal session; a phone number, plate or member code only identifies",
    ),
    (
        "pin_incorrect",
        422,
        "wrong PIN; the message says how many tries are left",
    ),
    (
        "coupon_invalid",
        422,
        "the coupon is unknown, used, expired or not the customer's",
    ),
    (
        "coupon_not_applicable",
        422,
        "the coupon is valid but takes nothing off this sale; the message says why",
    ),
    (
        "rule_never_fires",
        422,
        "a points rule that can never give points; the message lists why",
    ),
    (
        "insufficient_points",
        422,
        "the member's points do not cover the redemption",
    ),
    ("out_of_stock", 422, "the catalogue item is out of stock"),
    (
        "unsupported",
        422,
        "the bulk path does not take this sale (coupons, PINs, pending referrals); it goes through the POS API",
    ),
    (
        "no_credit_account",
        422,
        "the customer has no credit (挂账) agreement",
    ),
    (
        "refund_exceeds_sale",
        422,
        "the refund is more than what is left of the sale",
    ),
    (
        "authorization_exceeded",
        422,
        "the sale takes more than the pump authorisation holds",
    ),
    (
        "authorization_closed",
        422,
        "the pump authorisation was captured, voided or expired",
    ),
    (
        "pin_locked",
        423,
        "the card locked after too many wrong PINs",
    ),
    (
        "rate_limited",
        429,
        "too many requests from this user or address; wait and retry",
    ),
    (
        "internal",
        500,
        "an unexpected error; details are in the server log",
    ),
    ("unavailable", 503, "the database is busy; retry"),
    (
        "database_unavailable",
        503,
        "the database does not answer; retry after the seconds in Retry-After",
    ),
];

/// Seconds a client is asked to wait (`Retry-After`) when the database does not answer:
/// about the pool's time-out, so that retries do not pile up faster than it can tell.
pub const DATABASE_RETRY_AFTER_SECS: u32 = 5;

/// A refusal or failure of a use case: a code from the table, a message for people and,
/// for some codes, the figures behind the refusal (`details`, e.g. a card's cap in fen)
/// so that a client can word the refusal itself without parsing the message.
#[derive(Debug)]
pub struct AppError {
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AppError {}

/// The HTTP status the table gives a code (500 for a code not in it).
pub fn status_of(code: &str) -> u16 {
    ERROR_TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, s, _)| *s)
        .unwrap_or(500)
}

impl AppError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            ERROR_TABLE.iter().any(|(c, _, _)| *c == code),
            "error code {code} is not in the table"
        );
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with the figures behind it.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn validation(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new("validation_failed", format!("{field}: {message}"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new("forbidden", message)
    }

    /// The status the error table gives this error.
    pub fn status(&self) -> u16 {
        status_of(self.code)
    }

    /// The database does not answer; the client retries after `Retry-After`.
    pub fn database_unavailable() -> Self {
        Self::new(
            "database_unavailable",
            format!("the database does not answer; retry in {DATABASE_RETRY_AFTER_SECS} seconds"),
        )
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        let reference = uuid::Uuid::now_v7().simple().to_string();
        tracing::error!(reference = %reference, error = %err, "internal error");
        Self::new(
            "internal",
            format!("internal error (reference {reference}); see the server log"),
        )
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        let code = match &e {
            DomainError::Invalid { .. } => "validation_failed",
            DomainError::Overflow => "amount_out_of_range",
            DomainError::CardNotUsable(CardState::Frozen) => "card_frozen",
            DomainError::CardNotUsable(CardState::Lost) => "card_lost",
            DomainError::CardNotUsable(CardState::Cancelled) => "card_cancelled",
            DomainError::CardNotUsable(CardState::Replaced) => "card_replaced",
            DomainError::CardNotUsable(CardState::Active) => "card_not_usable",
            DomainError::LimitExceeded { .. } => "limit_exceeded",
            DomainError::InsufficientBalance { .. } => "insufficient_balance",
            DomainError::CreditLimitExceeded { .. } => "credit_limit_exceeded",
            DomainError::FaceValueCap { .. } => "face_value_cap",
            DomainError::PinRequired => "pin_required",
            DomainError::PinIncorrect { .. } => "pin_incorrect",
            DomainError::PinLocked => "pin_locked",
            DomainError::PaymentMismatch { .. } => "payment_mismatch",
            DomainError::Refused { code, .. } => code,
        };
        let details = match &e {
            DomainError::FaceValueCap { cap, would_be } => {
                Some(serde_json::json!({"cap_fen": cap.0, "would_be_fen": would_be.0}))
            }
            _ => None,
        };
        let mut error = Self::new(code, e.to_string());
        error.details = details;
        error
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::NotFound("card") => Self::new("card_not_found", "no card with this number"),
            StoreError::NotFound("sale") => Self::new("sale_not_found", "no such sale"),
            StoreError::NotFound("customer") => Self::new("customer_not_found", "no such customer"),
            StoreError::NotFound(what) => Self::new("not_found", format!("{what} not found")),
            StoreError::Conflict(_) => Self::new("conflict", "the record exists already"),
            StoreError::Retry => Self::new("unavailable", "the database is busy; retry"),
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "the database does not answer");
                Self::database_unavailable()
            }
            other => Self::internal(other),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Parses a JSON value into a request type; a body that does not fit is `invalid_json`.
pub fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> AppResult<T> {
    serde_json::from_value(v).map_err(|e| {
        AppError::new(
            "invalid_json",
            format!("the body does not match the request: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_valid() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, _) in ERROR_TABLE {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!((400..600).contains(status));
        }
    }

    #[test]
    fn domain_errors_map_to_table_codes() {
        let e: AppError = DomainError::PaymentMismatch {
            net: forecourt_core::Fen(1),
            paid: forecourt_core::Fen(2),
        }
        .into();
        assert_eq!(e.status(), 422);
        assert_eq!(e.code, "payment_mismatch");
        let e: AppError = DomainError::InsufficientBalance {
            available: forecourt_core::Fen(1),
            needed: forecourt_core::Fen(2),
        }
        .into();
        assert_eq!(e.status(), 402);
    }
}
