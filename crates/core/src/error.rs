use crate::card::CardState;
use crate::money::Fen;

/// Why the domain refuses something. Each variant maps to one row of the server's error
/// table (code and HTTP status); the message is written for the person at the till.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the amount is too large to compute")]
    Overflow,
    #[error("the card is {}", .0.as_str())]
    CardNotUsable(CardState),
    #[error("{message}")]
    LimitExceeded { rule: &'static str, message: String },
    #[error("balance short: {} CNY available, {} CNY needed", .available.yuan(), .needed.yuan())]
    InsufficientBalance { available: Fen, needed: Fen },
    #[error("credit limit exceeded: {} CNY of credit left, {} CNY needed", .available.yuan(), .needed.yuan())]
    CreditLimitExceeded { available: Fen, needed: Fen },
    #[error("the card may hold at most {} CNY; this would bring it to {} CNY", .cap.yuan(), .would_be.yuan())]
    FaceValueCap { cap: Fen, would_be: Fen },
    #[error("this card needs its PIN")]
    PinRequired,
    #[error("wrong PIN; {tries_left} tries left before the card locks")]
    PinIncorrect { tries_left: u32 },
    #[error("the card is locked after too many wrong PINs")]
    PinLocked,
    #[error("payments add up to {} CNY but the sale comes to {} CNY", .paid.yuan(), .net.yuan())]
    PaymentMismatch { net: Fen, paid: Fen },
    /// A refusal with its own code in the error table (`coupon_invalid`,
    /// `authorization_closed`, `cardholder_required`, …).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
}

impl DomainError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The code of a [`DomainError::Refused`].
    pub fn code(&self) -> Option<&'static str> {
        match self {
            DomainError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field,
            message: message.into(),
        }
    }
}
