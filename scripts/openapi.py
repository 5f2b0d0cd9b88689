#!/usr/bin/env python3
"""Writes crates/server/src/openapi.json, the OpenAPI document the server serves.

The error codes and their statuses are read from crates/server/src/error.rs; the routes
and schemas below are kept in step with crates/server/src/{lib,api,pos,ledger_ops,privacy,loyalty_api}.rs,
the role table (ALLOWED) with access.rs `allowed()` and the authentication with extract.rs,
by hand (the API test checks that every route is documented). Run it from anywhere after an API
change: python3 scripts/openapi.py"""
import json
import re
import sys

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/server/src/openapi.json")

# ---------------------------------------------------------------- error table (error.rs)
src = open(os.path.join(ROOT, "crates/server/src/error.rs"), encoding="utf-8").read()
table_src = src.split("pub const ERROR_TABLE")[1].split("];")[0]
ERRORS = [
    (c, int(s), re.sub(r"\s+", " ", d))
    for c, s, d in re.findall(r'\(\s*"([a-z_]+)",\s*(\d+),\s*"((?:[^"\\]|\\.)*)",?\s*\)', table_src)
]
assert len(ERRORS) == len(re.findall(r"\"([a-z_]+)\",\s*\d{3},", table_src)), len(ERRORS)
STATUS = {c: s for c, s, _ in ERRORS}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema):
    """A schema that also admits null (JSON Schema 2020-12 style)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    s = dict(schema)
    t = s["type"]
    s["type"] = [t, "null"] if isinstance(t, str) else t + ["null"]
    return s


def s(desc=None, **kw):
    out = {"type": "string"}
    out.update(kw)
    if desc:
        out["description"] = desc
    return out


def i64(desc=None, **kw):
    out = {"type": "integer", "format": "int64"}
    out.update(kw)
    if desc:
        out["description"] = desc
    return out


def fen(desc=None, **kw):
    return i64(desc, **kw)


def boolean(desc=None):
    out = {"type": "boolean"}
    if desc:
        out["description"] = desc
    return out


def time(desc=None):
    return s(desc, format="date-time")


def obj(props, required=None, desc=None, additional=None):
    out = {"type": "object"}
    if desc:
        out["description"] = desc
    if required:
        out["required"] = required
    out["properties"] = props
    if additional is not None:
        out["additionalProperties"] = additional
    return out


def arr(items, desc=None, **kw):
    out = {"type": "array", "items": items}
    out.update(kw)
    if desc:
        out["description"] = desc
    return out


# ---------------------------------------------------------------- shared schemas
code_table = "\n".join(f"| `{c}` | {st} | {d} |" for c, st, d in ERRORS)
schemas = {}

schemas["Error"] = obj(
    {
        "error": obj(
            {
                "code": s(
                    "A stable, machine-readable code from the error table; the HTTP "
                    "status follows from the code.",
                    enum=[c for c, _, _ in ERRORS],
                ),
                "message": s("A message for people (the till operator or the clerk)."),
            },
            required=["code", "message"],
        )
    },
    required=["error"],
    desc=(
        "Every API error (from the `/api/v1` routes and the route fallback) has this "
        "body. The code decides the HTTP status:\n\n| code | status | when |\n|---|---|---|\n"
        + code_table
    ),
)
schemas["Error"]["example"] = {
    "error": {
        "code": "payment_mismatch",
        "message": "payments add up to 300.00 CNY but the sale comes to 320.00 CNY",
    }
}


def rule(value_schema, desc):
    return obj(
        {
            "value": value_schema,
            "hard": {
                "type": "boolean",
                "default": True,
                "description": "true (the default): breaking the rule declines the sale "
                "(422 limit_exceeded); false: the sale goes through and is flagged.",
            },
        },
        required=["value"],
        desc=desc,
    )


str_list = arr({"type": "string"})
schemas["CardRules"] = obj(
    {
        "plate": rule(s(), "The licence plate the card is bound to (validated as a plate, e.g. 京A12345); the sale's `plate` (or the customer's plate) must match."),
        "sales_per_day": rule({"type": "integer", "minimum": 1, "maximum": 4294967295}, "Card payments per local day."),
        "amount_per_sale_fen": rule(fen(minimum=1), "Amount one card payment may take, fen."),
        "amount_per_day_fen": rule(fen(minimum=1), "Amount per local day, fen."),
        "amount_per_month_fen": rule(fen(minimum=1), "Amount per local calendar month, fen."),
        "volume_per_sale_ml": rule(i64(minimum=1), "Fuel volume per sale, millilitres."),
        "volume_per_day_ml": rule(i64(minimum=1), "Fuel volume per local day, millilitres."),
        "products": rule(str_list, "Product codes the card may buy (e.g. only `DIESEL_0`); non-fuel items are governed by `categories` instead."),
        "categories": rule(str_list, "Non-fuel categories the card may buy; an empty list forbids all non-fuel items."),
        "stations": rule(str_list, "Station codes where the card may be used."),
        "regions": rule(str_list, "Region codes where the card may be used."),
        "provinces": rule(str_list, "Provinces where the card may be used, by their plate character (e.g. `京`, `粤`)."),
        "weekdays": rule(arr({"type": "integer", "minimum": 1, "maximum": 7}), "ISO weekdays on which the card may be used, 1 = Monday … 7 = Sunday (station local time)."),
        "hours": rule(s(pattern=r"^\s*\d{1,2}:\d{1,2}\s*-\s*\d{1,2}:\d{1,2}\s*$"), "Local time window `HH:MM-HH:MM` (e.g. `06:00-22:00`); a window that wraps midnight is allowed."),
        "driver_pin": rule({"type": "boolean"}, "The driver must enter the card's PIN (even if the holder disabled it)."),
        "odometer": rule({"type": "boolean"}, "The till must send `odometer_km` with the sale."),
    },
    desc=(
        "The rules (limits) of one card. Every rule is optional; an absent rule does not "
        "apply. Each rule is `{\"value\": …, \"hard\": bool}` with `hard` defaulting to "
        "true. Unknown rule names are refused (400 invalid_json). Limits must be "
        "positive, weekdays 1–7 and `hours` a valid window (else 422 validation_failed). "
        "Rules are checked on card payments in the station's local time; amount limits "
        "also lower the amount a pump authorisation holds."
    ),
    additional=False,
)

schemas["Breach"] = obj(
    {
        "rule": s("The rule's name, a property name of CardRules."),
        "hard": boolean(),
        "message": s(),
    },
    required=["rule", "hard", "message"],
    desc="A card rule the sale broke. Only soft (hard = false) breaches appear in a sale's `flags`; a hard one refuses the sale.",
)

schemas["Region"] = obj(
    {
        "region_id": s(format="uuid"),
        "code": s(),
        "name": s(),
        "province": nullable(s()),
    },
    required=["region_id", "code", "name", "province"],
)

schemas["Station"] = obj(
    {
        "station_id": s(format="uuid"),
        "code": s(),
        "name": s(),
        "region_id": nullable(s(format="uuid")),
        "region_code": nullable(s()),
        "address": nullable(s()),
        "lat": nullable({"type": "number", "format": "double"}),
        "lon": nullable({"type": "number", "format": "double"}),
        "time_zone": s("IANA time zone; `Asia/Shanghai` unless given."),
        "province": nullable(s("Province as its plate character.")),
        "opening_hours": nullable(s()),
    },
    required=["station_id", "code", "name", "region_id", "region_code", "address", "lat", "lon", "time_zone", "province", "opening_hours"],
)

PRODUCT_KINDS = ["fuel", "ev", "service", "non_fuel"]
schemas["Product"] = obj(
    {
        "product_id": s(format="uuid"),
        "code": s(),
        "name": s(),
        "kind": s("fuel (by the litre: volume_ml), ev (by the kWh: quantity in Wh), service or non_fuel (by the unit).", enum=PRODUCT_KINDS),
        "category": nullable(s()),
    },
    required=["product_id", "code", "name", "kind", "category"],
)

schemas["Tier"] = obj(
    {
        "code": s(),
        "name": s(),
        "rank": i64(),
        "discount_fen_per_litre": fen("Discount on fuel, fen per litre."),
        "points_multiplier_permille": i64("Points multiplier in thousandths (1000 = ×1)."),
        "qualify_spend_fen": fen("Net spend (refunds deducted) over the qualification window that reaches the tier, when the metric is `spend`."),
        "qualify_litres_ml": i64("Fuel volume in millilitres over the window that reaches the tier, when the metric is `litres`."),
        "qualify_visits": i64("Visits (sales) over the window that reach the tier, when the metric is `visits`."),
        "monthly_car_washes": i64("Free car-wash coupons (template `tier-car-wash`) the daily loyalty run gives each member of the tier once a month."),
    },
    required=["code", "name", "rank", "discount_fen_per_litre", "points_multiplier_permille", "qualify_spend_fen", "qualify_litres_ml", "qualify_visits", "monthly_car_washes"],
    desc="A membership tier. Which threshold counts follows the qualification setting (GET /api/v1/loyalty/settings, `tiers.metric`); the lowest tier always qualifies.",
)

schemas["RechargePromotion"] = obj(
    {
        "promotion_id": s(format="uuid"),
        "name": s(),
        "min_amount_fen": fen(),
        "bonus_fen": fen(),
        "valid_from": s("RFC 3339, UTC.", format="date-time"),
        "valid_until": nullable(s("RFC 3339, UTC; null: open-ended.", format="date-time")),
    },
    required=["promotion_id", "name", "min_amount_fen", "bonus_fen", "valid_from", "valid_until"],
)

schemas["TierRef"] = obj({"code": s(), "name": s()}, required=["code", "name"])

SEES = (
    "the caller sees this customer's personal data: the role may see personal data "
    "(admin, region_manager, station_manager, account_manager) and the customer is in "
    "the caller's scope"
)
schemas["Vehicle"] = obj(
    {
        "vehicle_id": s(format="uuid"),
        "plate": s("Upper-case, without separators; masked (first two and last two characters kept, e.g. `京A***45`) unless " + SEES + "."),
        "model": nullable(s()),
        "colour": nullable(s()),
        "fuel_type": nullable(s()),
        "tank_capacity_ml": nullable(i64()),
    },
    required=["vehicle_id", "plate", "model", "colour", "fuel_type", "tank_capacity_ml"],
)

CARD_KINDS = ["personal", "company", "fleet_main", "fleet_sub", "anonymous"]
CARD_STATES = ["active", "frozen", "lost", "cancelled", "replaced"]
card_no_desc = (
    "The card number: 19 digits to a caller who may see personal data (and to POS "
    "tokens), otherwise masked as `1000 01** **** ***4 567`."
)
schemas["CardSummary"] = obj(
    {
        "card_no": s(card_no_desc),
        "card_no_masked": s("Always masked, e.g. `1000 01** **** ***4 567`."),
        "kind": s(enum=CARD_KINDS),
        "state": s(enum=CARD_STATES),
        "customer_id": nullable(s(format="uuid")),
        "main_card_no": nullable(s("A sub-card's fleet main card (masked as `card_no`).")),
        "balance_mode": s("pool: sub-cards spend the main card's balance; allocated: each sub-card holds its own.", enum=["pool", "allocated"]),
        "balance_fen": fen("Available to spend (paid + bonus), fen; of the main card when `shares_main_balance`."),
        "paid_fen": fen("Available from paid-in money, fen."),
        "bonus_fen": fen("Available from recharge bonuses, fen."),
        "held_fen": fen("Held by pending pump authorisations, fen."),
        "shares_main_balance": boolean("True for a sub-card of a pooled main card: the balance fields are the main card's."),
        "cap_fen": nullable(fen("Face-value cap (most the card may hold), fen: the card's own, or the default of its kind (anonymous 100000, personal 500000); null: none.")),
        "pin_set": boolean(),
        "pin_locked": boolean("Locked after too many wrong PINs (5 by default); PUT …/pin unlocks."),
        "limits": ref("CardRules"),
        "replaced_by": nullable(s("The card that replaced this one (masked as `card_no`).")),
    },
    required=["card_no", "card_no_masked", "kind", "state", "customer_id", "main_card_no", "balance_mode", "balance_fen", "paid_fen", "bonus_fen", "held_fen", "shares_main_balance", "cap_fen", "pin_set", "pin_locked", "limits", "replaced_by"],
    desc="A card as staff and POS see it.",
)

schemas["CardUsage"] = obj(
    {
        "sales_today": i64("Card payments today."),
        "amount_today_fen": fen(),
        "volume_today_ml": i64(),
        "amount_month_fen": fen(),
    },
    required=["sales_today", "amount_today_fen", "volume_today_ml", "amount_month_fen"],
    desc="What the card used in the current local day and month: in the POS station's time zone for a POS token, Asia/Shanghai for staff.",
)

schemas["CardDetail"] = {
    "allOf": [
        ref("CardSummary"),
        obj(
            {
                "usage": ref("CardUsage"),
                "sub_cards": arr(ref("CardSummary"), "Only on fleet main cards."),
                "recent_sales": arr(
                    obj(
                        {
                            "sale_id": s(format="uuid"),
                            "station_code": s(),
                            "occurred_at": time(),
                            "net_fen": fen(),
                            "points_earned": i64(),
                            "refunded_fen": fen(),
                        },
                        required=["sale_id", "station_code", "occurred_at", "net_fen", "points_earned", "refunded_fen"],
                    ),
                    "Staff only: the card's last 10 sales, newest first. A POS token does not get them.",
                ),
            },
            required=["usage"],
        ),
    ]
}

schemas["IssuedCard"] = {
    "allOf": [
        ref("CardSummary"),
        obj(
            {
                "id": s(format="uuid"),
                "card_no": s("The full 19-digit number, shown once to hand the card over.", pattern="^[0-9]{19}$"),
            },
            required=["id", "card_no"],
        ),
    ]
}

schemas["ReplacementCard"] = {
    "allOf": [
        ref("CardSummary"),
        obj(
            {
                "card_no": s("The new card's full 19-digit number.", pattern="^[0-9]{19}$"),
                "replaces": s("The old card's number (masked unless the caller may see personal data)."),
            },
            required=["card_no", "replaces"],
        ),
    ]
}

CUSTOMER_KINDS = ["individual", "company"]
INDUSTRIES = ["car_rental", "logistics", "construction", "taxi", "bus", "government", "other"]
SOURCES = ["walk_in", "leaflet", "referral", "partner", "census", "other"]

schemas["CustomerProfile"] = obj(
    {
        "id": s(format="uuid"),
        "member_code": s("10 digits starting with 8."),
        "kind": s(enum=CUSTOMER_KINDS),
        "name": s("Masked (first character and stars) unless the caller sees personal data; `已注销` once the customer is anonymised."),
        "phone": nullable(s("`139****5678` unless the caller sees personal data.")),
        "industry": nullable(s(enum=INDUSTRIES)),
        "birthday": nullable(s("YYYY-MM-DD; null unless the caller sees personal data.", format="date")),
        "id_number": nullable(s("The resident ID number, always masked (first 6 and last 4 characters kept, e.g. `110101********1234`); only the export (GET …/export) shows it whole. Null when none is held.")),
        "address": nullable(s("`***` unless the caller sees personal data.")),
        "account_manager_id": nullable(s("The staff user (account manager) who owns the customer; users of scope `own` see only their customers in full.", format="uuid")),
        "anonymized_at": nullable(time("When the customer's personal data was erased (POST …/anonymize); null if never.")),
        "occupation": nullable(s()),
        "home_station_id": nullable(s(format="uuid")),
        "source": nullable(s(enum=SOURCES)),
        "source_code": nullable(s()),
        "tier": nullable(ref("TierRef")),
        "points_balance": i64(),
        "consent": obj({"marketing": boolean(), "sensitive": boolean()}, required=["marketing", "sensitive"]),
        "tags": arr(s()),
        "notes": nullable(s()),
        "created_at": time(),
        "vehicles": arr(ref("Vehicle")),
        "contacts": arr(
            obj(
                {
                    "name": s("Masked unless the caller sees personal data."),
                    "phone": nullable(s("Masked unless the caller sees personal data.")),
                    "role": nullable(s()),
                },
                required=["name", "phone", "role"],
            )
        ),
        "cards": arr(ref("CardSummary")),
        "credit": nullable(
            obj(
                {
                    "credit_limit_fen": fen(),
                    "billing_day": i64(minimum=1, maximum=28),
                    "owed_fen": fen(),
                    "available_fen": fen(),
                },
                required=["credit_limit_fen", "billing_day", "owed_fen", "available_fen"],
                desc="The credit (挂账) agreement; null when there is none.",
            )
        ),
        "recent_sales": arr(
            obj(
                {
                    "sale_id": s(format="uuid"),
                    "station_code": s(),
                    "occurred_at": time(),
                    "net_fen": fen(),
                    "points_earned": i64(),
                    "refunded_fen": fen(),
                },
                required=["sale_id", "station_code", "occurred_at", "net_fen", "points_earned", "refunded_fen"],
            ),
            "The 10 most recent sales.",
        ),
    },
    required=["id", "member_code", "kind", "name", "phone", "industry", "birthday", "id_number", "address", "account_manager_id", "anonymized_at", "occupation", "home_station_id", "source", "source_code", "tier", "points_balance", "consent", "tags", "notes", "created_at", "vehicles", "contacts", "cards", "credit", "recent_sales"],
    desc=(
        "A customer's profile. Personal data (name, phone, birthday, address, vehicle "
        "plates, contacts) is masked unless " + SEES + ". The ID number is always masked. "
        "Card numbers in `cards` follow the role alone (see CardSummary)."
    ),
)

schemas["CustomerMatch"] = obj(
    {
        "id": s(format="uuid"),
        "member_code": s(),
        "kind": s(enum=CUSTOMER_KINDS),
        "name": s("Masked unless the caller sees this customer's personal data."),
        "phone": nullable(s("Masked unless the caller sees this customer's personal data.")),
        "plates": arr(s(), "The vehicles' plates, masked (e.g. `京A***45`) unless the caller sees this customer's personal data."),
        "tier_code": s(),
    },
    required=["id", "member_code", "kind", "name", "phone", "plates", "tier_code"],
    desc="One search result. Masking is decided per result: unmasked only when " + SEES + ".",
)

plate_desc = "A Chinese plate: province character, a letter, then 5 or 6 letters or digits (e.g. 京A12345); spaces, dashes and dots are ignored."
phone_desc = "A mainland mobile number: 11 digits starting 13–19; a leading +86, spaces, dashes and parentheses are ignored."
card_in_desc = "19 digits with a valid Luhn check digit; spaces and dashes are ignored."

schemas["VehicleInput"] = obj(
    {
        "plate": s(plate_desc),
        "model": s("At most 64 characters."),
        "colour": s("At most 32 characters."),
        "fuel_type": s("At most 32 characters."),
        "tank_capacity_l": {"type": "number", "format": "double", "description": "Tank capacity in litres (used when tank_capacity_ml is absent); 1 to 2000 L."},
        "tank_capacity_ml": i64("Tank capacity in millilitres; wins over tank_capacity_l.", minimum=1000, maximum=2000000),
    },
    required=["plate"],
)

schemas["ContactInput"] = obj(
    {
        "name": s("1 to 100 characters."),
        "phone": s(phone_desc),
        "role": s("At most 32 characters."),
    },
    required=["name"],
)

schemas["CustomerInput"] = obj(
    {
        "kind": s(enum=CUSTOMER_KINDS),
        "name": s("1 to 100 characters.", minLength=1, maxLength=100),
        "phone": s(phone_desc),
        "vehicles": arr(ref("VehicleInput"), maxItems=200, default=[]),
        "contacts": arr(ref("ContactInput"), maxItems=50, default=[]),
        "industry": s(enum=INDUSTRIES),
        "birthday": s("YYYY-MM-DD.", format="date"),
        "occupation": s("At most 64 characters."),
        "home_station": s(
            "A station code (404 station_not_found if there is none). It must be in the "
            "caller's scope (else 403 forbidden), except for users of scope `own`. "
            "Default: the user's station for a `station:CODE` user; a `region:CODE` user "
            "must name it (else 422 validation_failed)."
        ),
        "source": s(enum=SOURCES),
        "source_code": s("At most 64 characters."),
        "consent_marketing": {"type": "boolean", "default": False, "description": "true records the customer's consent to marketing (channel `counter`)."},
        "consent_sensitive": {"type": "boolean", "default": False, "description": "The customer's separate consent to sensitive personal data (needed for `id_number`); true records it (channel `counter`)."},
        "tags": arr(s(maxLength=32), maxItems=50, default=[]),
        "notes": s("At most 2000 characters."),
        "id_number": s(
            "Resident ID number (GB 11643-1999: 18 characters, the first 17 digits, a real "
            "birth date, the MOD 11-2 check character 0-9 or X; lower-case x is accepted and "
            "surrounding spaces ignored). Sensitive personal data: needs "
            "`consent_sensitive: true`, else 422 validation_failed; an invalid number is "
            "422 validation_failed too. Stored encrypted; the profile shows it masked."
        ),
        "address": s("At most 200 characters.", maxLength=200),
        "account_manager_id": s(
            "The staff user id of the account manager who owns the customer (not checked "
            "to exist); users of scope `own` see and manage the customers they own. "
            "Default: the caller when the caller's scope is `own`, else none."
        ),
        "referred_by": s(
            "The member code of the member who referred this one (以老带新; surrounding "
            "spaces ignored). It must name a member who is not anonymised, else 422 "
            "validation_failed; the referrer need not be in the caller's scope. The new "
            "member's first sale of at least the referral setting's `min_net_fen` gives "
            "both members their referral points, once (GET /api/v1/loyalty/settings)."
        ),
    },
    required=["kind", "name"],
)

schemas["CustomerRef"] = obj(
    {
        "card_no": s(card_in_desc),
        "phone": s(phone_desc),
        "plate": s(plate_desc),
        "member_code": s(),
    },
    desc=(
        "Who the sale is for. The first field present is used, in the order card_no, "
        "phone, plate, member_code. An unknown card_no is refused (404 card_not_found); "
        "no match by the others sells as a walk-in sale with a message; several "
        "matches sell without a member (no points) with a message."
    ),
)

schemas["SaleLineInput"] = obj(
    {
        "product_code": s("A product code of the network, e.g. GASOLINE_92, DIESEL_0, EV_CHARGE, CAR_WASH (422 unknown_product otherwise)."),
        "volume_ml": i64("Fuel: the volume in millilitres (required for fuel products).", minimum=1, maximum=2000000),
        "quantity": i64("EV charging: energy in watt-hours (volume_ml is accepted instead); services and goods: units (default 1).", minimum=1, maximum=1000000),
        "unit_price_fen": fen("Price per litre (fuel), per kWh (EV) or per unit, fen.", minimum=1, maximum=1000000),
        "amount_fen": fen("The amount the till charged for the line, fen; wins over the computed one.", minimum=0, maximum=100000000),
        "pump_no": i64("Recorded with the sale."),
    },
    required=["product_code", "unit_price_fen"],
)

PAY_METHODS = ["card", "cash", "wechat", "alipay", "bank_card", "credit", "coupon"]
schemas["PaymentInput"] = obj(
    {
        "method": s(
            "Sales: card, cash, wechat, alipay, bank_card, credit (挂账: needs a customer identified by `customer.card_no`, a card of that customer, with a credit agreement; a phone, plate or member code alone identifies the member for points but is refused for credit with 422 validation_failed) or coupon. Recharges: cash, wechat, alipay or bank_card only.",
            enum=PAY_METHODS,
        ),
        "amount_fen": fen("Positive; at most 100000000 on sales.", minimum=1),
        "card_no": s("Card payments: the card; defaults to customer.card_no. One payment per card. " + card_in_desc),
        "pin": s("Card payments: the card's 6-digit PIN, needed when the card has a PIN or its rules demand the driver's PIN."),
        "coupon_code": s("Coupon payments: the coupon (required for method coupon)."),
    },
    required=["method", "amount_fen"],
)

txn_id = s(
    "The till's idempotency key, unique per station: 1 to 64 printable ASCII characters.",
    minLength=1,
    maxLength=64,
    pattern="^[!-~]+$",
)
occurred = time("RFC 3339 with offset, not more than a day in the future and not before 2000.")

schemas["SaleRequest"] = obj(
    {
        "pos_txn_id": s(
            "The idempotency key, unique per station: 1 to 64 printable ASCII characters. "
            "Optional in the body's shape (it defaults to empty), but a sale without it is "
            "refused with 422 validation_failed; quotes ignore it.",
            maxLength=64,
            pattern="^[!-~]*$",
        ),
        "station_code": s("Must be the caller's station: the POS token's, or the staff user's `station:CODE` (403 wrong_station for another existing station, 422 unknown_station for none)."),
        "occurred_at": occurred,
        "customer": nullable(ref("CustomerRef")),
        "lines": arr(ref("SaleLineInput"), minItems=1, maxItems=100),
        "payments": arr(ref("PaymentInput"), "Sales: at most 10, adding up to the net amount (422 payment_mismatch otherwise). Quotes ignore them.", maxItems=10, default=[]),
        "authorization_id": s("Captures a pump authorisation: the card payment of the authorised card takes up to the held amount and the rest is released."),
        "plate": s("The plate of the vehicle being filled, for plate-bound cards (defaults to customer.plate)."),
        "odometer_km": i64("The odometer reading, for cards whose rules demand it."),
        "coupons": arr(
            s(),
            "Discount coupons (issued from coupon templates, POST /api/v1/loyalty/coupons) "
            "to apply, by code, in the order given: after the tier discount, each on what "
            "the ones before it left. Quotes apply them too. Each must be issued, valid at "
            "`occurred_at` and, if it belongs to a member, the identified customer's, and "
            "may be named once (else 422 coupon_invalid); a voucher from POST "
            "/api/v1/coupons is not a discount coupon (take it as a `coupon` payment: 422 "
            "coupon_invalid); a coupon that takes nothing off this sale is refused with 422 "
            "coupon_not_applicable and its reason. At most 5 (422 validation_failed).",
            maxItems=5,
            default=[],
        ),
    },
    required=["station_code", "occurred_at", "lines"],
    desc="The body of a sale and of a quote (a quote is a sale without payments).",
)

COUPON_KINDS = ["amount_off", "per_litre_off", "percent_off_non_fuel", "free_car_wash"]
schemas["DiscountApplied"] = obj(
    {
        "kind": s("tier: the tier's discount on fuel (one entry, absent when it takes nothing off); coupon: a discount coupon of the sale's `coupons`, one entry each, in the order applied.", enum=["tier", "coupon"]),
        "coupon_code": s("Only on `kind: coupon`: the coupon's code."),
        "description": s("tier: the tier's name and rate, e.g. `VIP 20 fen/L`; coupon: the coupon's kind, e.g. `amount_off`."),
        "amount_fen": fen(),
    },
    required=["kind", "description", "amount_fen"],
)

schemas["PointsLine"] = obj(
    {
        "rule_id": s("The points rule that gave the points; `tier` for the tier multiplier's share, `referral` for a referral reward."),
        "version": i64("The rule's version in force (1 for `tier` and `referral`)."),
        "kind": s("base: an earn rule's base rate; tier: what the tier's multiplier adds above the base (a multiplier below ×1 lowers the base lines instead); bonus: a bonus rule; milestone: a visit or litres milestone; referral: the referred member's reward on the first qualifying sale.", enum=["base", "tier", "bonus", "milestone", "referral"]),
        "points": i64("Positive: only rules that gave points have a line.", minimum=1),
        "reason": s("Why, for people, e.g. `base rate`, `tier multiplier 1500‰`, `Weekend double: +1000‰ of the base`."),
    },
    required=["rule_id", "version", "kind", "points", "reason"],
    desc="One reason for a sale's points. A sale's lines add up to its `points_earned`.",
)

schemas["CouponApplied"] = obj(
    {
        "code": s(),
        "kind": s(enum=COUPON_KINDS),
        "amount_fen": fen("What the coupon took off, fen (placed on the lines it applies to)."),
    },
    required=["code", "kind", "amount_fen"],
    desc="A discount coupon the sale applied.",
)

schemas["PricedLine"] = obj(
    {
        "line_no": i64("1-based, in the order sent; refunds name lines by it."),
        "product_code": s(),
        "volume_ml": i64("Millilitres for fuel, 0 otherwise."),
        "quantity": i64("Units for goods and services, watt-hours for EV charging, 0 for fuel."),
        "unit_price_fen": fen(),
        "gross_fen": fen(),
        "discount_fen": fen(),
        "net_fen": fen(),
    },
    required=["line_no", "product_code", "volume_ml", "quantity", "unit_price_fen", "gross_fen", "discount_fen", "net_fen"],
)

schemas["CustomerBrief"] = obj({"id": s(format="uuid"), "member_code": s()}, required=["id", "member_code"])

schemas["Quote"] = obj(
    {
        "station_code": s(),
        "gross_amount_fen": fen(),
        "discount_fen": fen(),
        "net_amount_fen": fen("What the payments of the sale must add up to."),
        "discounts": arr(ref("DiscountApplied")),
        "lines": arr(ref("PricedLine")),
        "points_earned": i64("Points the sale would earn (0 without an identified member), by the points rules in force, on the net after the tier discount and the discount coupons. The quote ignores payments, so a voucher paid as a `coupon` payment (which earns nothing) can make the sale earn less than quoted."),
        "points_detail": arr(ref("PointsLine"), "Why: one line per rule version that would give points; empty without an identified member."),
        "coupons_applied": arr(ref("CouponApplied"), "The request's `coupons`, in order, with what each takes off."),
        "coupons_available": arr(
            obj(
                {
                    "code": s(),
                    "kind": s("A discount coupon's kind, or `payment` for a voucher taken as a `coupon` payment.", enum=COUPON_KINDS + ["payment"]),
                    "name": nullable(s("The template's name; null for a voucher.")),
                    "value": i64("fen for amount_off and payment, fen per litre for per_litre_off, percent for percent_off_non_fuel, washes for free_car_wash."),
                    "valid_until": nullable(time("Null: no expiry.")),
                },
                required=["code", "kind", "name", "value", "valid_until"],
            ),
            "The identified member's other coupons usable at `occurred_at` (issued, valid, not in `coupons`), for the cashier to offer; newest first; empty without a member.",
        ),
        "tier": nullable(ref("TierRef")),
        "customer": nullable(ref("CustomerBrief")),
        "card_balance_fen": nullable(fen("Balance of customer.card_no's card (its main card when pooled); null without a card.")),
        "messages": arr(s(), "Messages to show at the till."),
    },
    required=["station_code", "gross_amount_fen", "discount_fen", "net_amount_fen", "discounts", "lines", "points_earned", "points_detail", "coupons_applied", "coupons_available", "tier", "customer", "card_balance_fen", "messages"],
)

schemas["Sale"] = obj(
    {
        "sale_id": s(format="uuid"),
        "pos_txn_id": s(),
        "station_code": s(),
        "occurred_at": time(),
        "gross_amount_fen": fen(),
        "discount_fen": fen(),
        "net_amount_fen": fen(),
        "discounts": arr(ref("DiscountApplied")),
        "lines": arr(ref("PricedLine")),
        "points_earned": i64("Earned by the points rules in force (base rate, tier multiplier, bonuses, milestones, a referral reward) on the net amount less coupon payments; 0 without an identified member."),
        "points_detail": arr(ref("PointsLine"), "Why: one line per rule version that gave points, adding up to `points_earned`; empty without an identified member."),
        "coupons_applied": arr(ref("CouponApplied"), "The request's `coupons`, in order, with what each took off; each is now redeemed."),
        "tier_after": nullable(s("The member's new tier code when this sale lifted the member to a higher tier (the sale itself is priced at the tier before it); null otherwise.")),
        "points_balance": nullable(i64("The member's points after the sale; null without a member.")),
        "card_balance_fen": nullable(fen("Balance after the sale of the first card paid with (its main card when pooled), else of customer.card_no's card; null without a card.")),
        "tier": nullable(ref("TierRef")),
        "customer": nullable(ref("CustomerBrief")),
        "authorization_id": nullable(s("The pump authorisation the sale captured.")),
        "flags": arr(ref("Breach"), "Soft card rules the sale broke (it went through, flagged for review)."),
        "messages": arr(s(), "Messages to show at the till, including one per flag."),
    },
    required=["sale_id", "pos_txn_id", "station_code", "occurred_at", "gross_amount_fen", "discount_fen", "net_amount_fen", "discounts", "lines", "points_earned", "points_detail", "coupons_applied", "tier_after", "points_balance", "card_balance_fen", "tier", "customer", "authorization_id", "flags", "messages"],
)

schemas["RechargeRequest"] = obj(
    {
        "pos_txn_id": txn_id,
        "station_code": s("Must be the caller's station: the POS token's, or the staff user's `station:CODE` (403 wrong_station for another existing station, 422 unknown_station for none)."),
        "occurred_at": occurred,
        "card_no": s(card_in_desc),
        "amount_fen": fen("1 to 100000000.", minimum=1, maximum=100000000),
        "payments": arr(ref("PaymentInput"), "1 to 10 payments by cash, wechat, alipay or bank_card, adding up to amount_fen (422 payment_mismatch otherwise).", minItems=1, maxItems=10),
    },
    required=["pos_txn_id", "station_code", "occurred_at", "card_no", "amount_fen", "payments"],
)

schemas["Recharge"] = obj(
    {
        "recharge_id": s(format="uuid"),
        "pos_txn_id": s(),
        "card_no": s("Masked, e.g. `1000 01** **** ***4 567`."),
        "amount_fen": fen(),
        "bonus_fen": fen("Bonus added by the best recharge promotion in force (0 if none)."),
        "promotion": nullable(s("The promotion's name.")),
        "card_balance_fen": fen("Available after the recharge (paid + bonus)."),
        "paid_fen": fen(),
        "bonus_balance_fen": fen(),
    },
    required=["recharge_id", "pos_txn_id", "card_no", "amount_fen", "bonus_fen", "promotion", "card_balance_fen", "paid_fen", "bonus_balance_fen"],
)

schemas["RefundRequest"] = obj(
    {
        "pos_txn_id": txn_id,
        "station_code": s("Must be the caller's station: the POS token's, or the staff user's `station:CODE` (403 wrong_station for another existing station, 422 unknown_station for none)."),
        "occurred_at": occurred,
        "sale_id": s("A sale of this station.", format="uuid"),
        "lines": nullable(
            arr(
                obj(
                    {
                        "line_no": i64("A line of the sale."),
                        "amount_fen": fen("Positive; defaults to what is left of the line.", minimum=1),
                    },
                    required=["line_no"],
                ),
                "Absent or null: everything left of every line. A line may appear once.",
            )
        ),
    },
    required=["pos_txn_id", "station_code", "occurred_at", "sale_id"],
)

schemas["Refund"] = obj(
    {
        "refund_id": s(format="uuid"),
        "sale_id": s(format="uuid"),
        "pos_txn_id": s(),
        "amount_fen": fen("Refunded, back to the sale's payments in proportion to what is left of each."),
        "points_reversed": i64(),
        "points_shortfall": i64("Points due back that the member had already spent."),
        "card_balance_fen": nullable(fen("Balance after the refund of the first card refunded to; null if no card payment was refunded.")),
    },
    required=["refund_id", "sale_id", "pos_txn_id", "amount_fen", "points_reversed", "points_shortfall", "card_balance_fen"],
)

schemas["AuthorizationRequest"] = obj(
    {
        "pos_txn_id": txn_id,
        "station_code": s("Must be the caller's station: the POS token's, or the staff user's `station:CODE` (403 wrong_station for another existing station, 422 unknown_station for none)."),
        "occurred_at": time("RFC 3339; defaults to now."),
        "card_no": s(card_in_desc),
        "pin": s("The card's 6-digit PIN, when the card has one or its rules demand it."),
        "pump_no": i64(),
        "max_amount_fen": fen("The most the pump may take, 1 to 100000000.", minimum=1, maximum=100000000),
        "plate": s("The vehicle's plate, for plate-bound cards."),
    },
    required=["pos_txn_id", "station_code", "card_no", "max_amount_fen"],
)

schemas["Authorization"] = obj(
    {
        "authorization_id": s(format="uuid"),
        "pos_txn_id": s(),
        "held_fen": fen("Held: max_amount_fen lowered to the available balance and what the card's hard amount limits leave."),
        "expires_at": time("When the hold is released if no sale captures it (30 minutes by default)."),
        "card_balance_fen": fen("Available after the hold."),
    },
    required=["authorization_id", "pos_txn_id", "held_fen", "expires_at", "card_balance_fen"],
)

ADJUSTMENT_STATES = ["pending", "approved", "rejected"]
schemas["Adjustment"] = obj(
    {
        "id": s(format="uuid"),
        "target": s("card: a card's paid balance, in fen; points: a customer's points.", enum=["card", "points"]),
        "card_id": nullable(s("The card's internal id (not its number); null for a points adjustment.", format="uuid")),
        "customer_id": nullable(s("Null for a card adjustment.", format="uuid")),
        "amount": i64("Positive adds to the balance, negative takes from it; in `unit`."),
        "unit": s(enum=["fen", "points"]),
        "reason": s(),
        "maker_user_id": s("The staff user who asked for it.", format="uuid"),
        "checker_user_id": nullable(s("The staff user who approved or rejected it; null while pending.", format="uuid")),
        "state": s("Only an approved adjustment has moved money or points.", enum=ADJUSTMENT_STATES),
        "created_at": time(),
        "decided_at": nullable(time()),
    },
    required=["id", "target", "card_id", "customer_id", "amount", "unit", "reason", "maker_user_id", "checker_user_id", "state", "created_at", "decided_at"],
    desc="A manual adjustment of a card's paid balance or a customer's points, under maker-checker: one person asks for it, another approves or rejects it.",
)

schemas["StatementLine"] = obj(
    {
        "occurred_at": time(),
        "kind": s("sale (on credit), refund (of a credit sale) or payment (money received).", enum=["sale", "refund", "payment"]),
        "reference": nullable(s("The sale's id for a sale and for a refund (the refunded sale); the payment's `reference` for a payment.")),
        "station_code": nullable(s("Null for payments.")),
        "amount_fen": fen("Positive: the customer owes more; negative: owes less."),
        "balance_fen": fen("What the customer owes after this line."),
    },
    required=["occurred_at", "kind", "reference", "station_code", "amount_fen", "balance_fen"],
)

schemas["CreditStatement"] = obj(
    {
        "customer_id": s(format="uuid"),
        "member_code": s(),
        "name": s("Unmasked (every role that may see statements may see personal data)."),
        "month": s("YYYY-MM, as asked."),
        "credit_limit_fen": fen("The limit now."),
        "billing_day": i64("The agreement's billing day now (the statement still covers the calendar month).", minimum=1, maximum=28),
        "opening_balance_fen": fen("Owed at the start of the month."),
        "charges_fen": fen("Sum of the positive lines."),
        "payments_and_refunds_fen": fen("Sum of the negative lines, as a positive number."),
        "closing_balance_fen": fen("Owed at the end of the month: opening + charges − payments and refunds."),
        "lines": arr(ref("StatementLine"), "Every movement of the month, oldest first."),
    },
    required=["customer_id", "member_code", "name", "month", "credit_limit_fen", "billing_day", "opening_balance_fen", "charges_fen", "payments_and_refunds_fen", "closing_balance_fen", "lines"],
    desc="A credit (挂账) customer's statement for one calendar month in Asia/Shanghai time.",
)

schemas["CreditPayment"] = obj(
    {
        "id": s("The payment's id.", format="uuid"),
        "customer_id": s(format="uuid"),
        "amount_fen": fen(),
        "owed_fen": fen("What the customer owes now (after the payment)."),
    },
    required=["id", "customer_id", "amount_fen", "owed_fen"],
)

CONSENT_PURPOSES = ["marketing", "sensitive", "data_transfer", "location"]
CONSENT_CHANNELS = ["counter", "app", "paper", "phone", "import"]
schemas["Consent"] = obj(
    {
        "purpose": s(enum=CONSENT_PURPOSES),
        "channel": s("How the consent was given.", enum=CONSENT_CHANNELS),
        "granted_at": time(),
        "withdrawn_at": nullable(time("Null while the consent stands.")),
    },
    required=["purpose", "channel", "granted_at", "withdrawn_at"],
    desc="One consent record: a grant, and its withdrawal once withdrawn. A new grant after a withdrawal is a new record.",
)

schemas["AuditEntry"] = obj(
    {
        "seq": i64("Position in the hash-chained, append-only log."),
        "at": time(),
        "actor": s("`user:<username>`."),
        "action": s("e.g. user.login, user.login_failed, user.create, station.create, price.set, customer.create, customer.read, customer.search, customer.export, customer.anonymize, consent.grant, consent.withdraw, card.issue, card.state, card.replace, card.register, card.limits, card.pin, card.allocation, customer.portal_password, member.login, member.login_failed, member.password, loyalty.rule_saved, loyalty.setting_changed, loyalty.tier_saved, loyalty.tier_override, loyalty.coupons_issued, loyalty.redemption_cancelled, loyalty.daily_run."),
        "target_kind": s("e.g. user, station, customer, card, loyalty_rule, loyalty_setting, tier, coupon_template, redemption, loyalty."),
        "target_id": nullable(s("The target's id; null for searches and the daily loyalty run.")),
        "source": nullable(s("The client's IP address, when known.")),
        "detail": {"description": "Details of the action as JSON (never personal data), e.g. `{\"unmasked\": true}` for a profile read or `{\"matched_by\": \"phone\", \"results\": 1}` for a search; null if unreadable."},
    },
    required=["seq", "at", "actor", "action", "target_kind", "target_id", "source", "detail"],
)

schemas["CustomerExport"] = obj(
    {
        "exported_at": time(),
        "customer": obj(
            {
                "id": s(format="uuid"),
                "member_code": s(),
                "kind": s(enum=CUSTOMER_KINDS),
                "name": s(),
                "phone": nullable(s()),
                "id_number": nullable(s("In full.")),
                "address": nullable(s()),
                "birthday": nullable(s(format="date")),
                "occupation": nullable(s()),
                "industry": nullable(s(enum=INDUSTRIES)),
                "source": nullable(s(enum=SOURCES)),
                "source_code": nullable(s()),
                "tier_code": s(),
                "tags": arr(s()),
                "notes": nullable(s()),
                "created_at": time(),
                "anonymized_at": nullable(time()),
            },
            required=["id", "member_code", "kind", "name", "phone", "id_number", "address", "birthday", "occupation", "industry", "source", "source_code", "tier_code", "tags", "notes", "created_at", "anonymized_at"],
            desc="Everything held on the customer record, unmasked.",
        ),
        "vehicles": arr(ref("Vehicle"), "Plates in full."),
        "contacts": arr(obj({"contact_id": s(format="uuid"), "name": s(), "phone": nullable(s()), "role": nullable(s())}, required=["contact_id", "name", "phone", "role"]), "Unmasked."),
        "cards": arr(obj(
            {
                "card_no": s("The full 19-digit number."),
                "kind": s(enum=CARD_KINDS),
                "state": s(enum=CARD_STATES),
                "balance_fen": fen("Available (paid + bonus) on the card's own accounts."),
                "paid_fen": fen(),
                "bonus_fen": fen(),
                "limits": ref("CardRules"),
                "issued_at": time(),
            },
            required=["card_no", "kind", "state", "balance_fen", "paid_fen", "bonus_fen", "limits", "issued_at"],
        )),
        "points_balance": i64(),
        "sales": arr(obj(
            {
                "sale_id": s(format="uuid"),
                "station_code": s(),
                "occurred_at": time(),
                "net_fen": fen(),
                "points_earned": i64(),
                "refunded_fen": fen(),
            },
            required=["sale_id", "station_code", "occurred_at", "net_fen", "points_earned", "refunded_fen"],
        ), "Every sale to the customer, newest first."),
        "ledger_movements": arr(obj(
            {
                "occurred_at": time(),
                "kind": s("The journal's kind, e.g. sale, refund, recharge, adjustment, allocation, credit_payment."),
                "account": s("`customer:<id>:points`, `customer:<id>:credit`, `card:<id>:paid` or `card:<id>:bonus`."),
                "amount": i64("Positive: credited to the account; negative: taken from it."),
                "unit": s(enum=["fen", "points"]),
                "memo": nullable(s()),
            },
            required=["occurred_at", "kind", "account", "amount", "unit", "memo"],
        ), "Posted movements of the customer's points and credit accounts and of the customer's cards, oldest first."),
        "consents": arr(ref("Consent")),
        "access_log": arr(obj({"at": time(), "actor": s(), "action": s()}, required=["at", "actor", "action"]), "Audit entries about the customer (who read or changed the record), newest first."),
    },
    required=["exported_at", "customer", "vehicles", "contacts", "cards", "points_balance", "sales", "ledger_movements", "consents", "access_log"],
    desc="Everything held about a person (the PIPL access right), unmasked.",
)

schemas["LedgerCheck"] = obj(
    {
        "clean": boolean("True when no problem was found."),
        "report": obj(
            {
                "accounts": i64(),
                "transfers": i64(),
                "journals": i64(),
                "sales": i64(),
                "problems": arr(s(), "One line per broken invariant; empty when clean."),
            },
            required=["accounts", "transfers", "journals", "sales", "problems"],
        ),
    },
    required=["clean", "report"],
    desc="The result of the ledger check (`forecourt check`): every cached balance recomputed from the transfers and every invariant of the ledger and the records that refer to it checked.",
)

# ---------------------------------------------------------------- loyalty schemas
# The serde forms of forecourt_core::{loyalty, points_expiry, tiers}, server loyalty.rs
# `Referral` and the stored types of forecourt_store::loyalty.
US_DESC = "UTC microseconds since the Unix epoch (an integer, not an RFC 3339 string)."

schemas["Conditions"] = obj(
    {
        "from_us": i64("In force from this time on (inclusive): " + US_DESC),
        "until_us": i64("In force until this time (exclusive): " + US_DESC),
        "weekdays": arr({"type": "integer", "minimum": 1, "maximum": 7}, "ISO weekdays (1 = Monday … 7 = Sunday) in the station's local time."),
        "hours": arr(
            {"type": "integer", "minimum": 0, "maximum": 1440},
            "A local time window `[from, to)` in minutes since midnight, e.g. `[360, 600]` for 06:00–10:00; a window that wraps midnight (`from` > `to`) is allowed.",
            minItems=2,
            maxItems=2,
        ),
        "stations": arr(s(), "Station codes."),
        "products": arr(s(), "The products the rule counts: the sale must contain one of them, and amounts, volumes and the bonus are counted on those lines only. Absent: every line."),
        "min_amount_fen": fen("The counted lines' net amount must be at least this."),
        "min_volume_ml": i64("The counted lines' volume must be at least this many millilitres."),
        "tags": arr(s(), "The member must have at least one of these tags (a segment)."),
        "first_visit": {"type": "boolean", "default": False, "description": "Only the member's first sale."},
        "birthday_month": {"type": "boolean", "default": False, "description": "Only in the member's birthday month."},
    },
    desc="When a bonus rule applies: every condition given must hold; an absent condition does not apply. An empty list never matches (the rule is refused with 422 rule_never_fires).",
)

schemas["Bonus"] = {
    "oneOf": [
        obj({"kind": s(enum=["multiplier"]), "permille": i64("Extra points as a share of the base points of the counted lines, in ‰ (1000 = double points).", minimum=1)}, required=["kind", "permille"]),
        obj({"kind": s(enum=["fixed"]), "points": i64("A fixed number of points.", minimum=1)}, required=["kind", "points"]),
        obj({"kind": s(enum=["per_yuan"]), "points": i64("Points per whole yuan of the counted lines' net amount.", minimum=1)}, required=["kind", "points"]),
        obj({"kind": s(enum=["per_litre"]), "points": i64("Points per whole litre of the counted lines' volume.", minimum=1)}, required=["kind", "points"]),
    ],
    "discriminator": {"propertyName": "kind"},
    "description": "What a bonus rule gives, tagged by `kind`. A value of zero or less gives nothing (422 rule_never_fires).",
}

schemas["EarnRule"] = obj(
    {
        "products": nullable(arr(s(), "The products the rate applies to (an empty list never applies: 422 rule_never_fires); absent or null: every product no other earn rule names. The most specific rule applies to each line.")),
        "basis": s("per_yuan: per whole yuan of a line's net amount; per_litre: per whole litre of a fuel line's volume.", enum=["per_yuan", "per_litre"]),
        "points_per_unit": i64(minimum=0),
    },
    required=["basis", "points_per_unit"],
    desc=(
        "The `rule` of a `kind: earn` rule: a base rate. Base points and the tier "
        "multiplier are rounded down once per sale. Out of the box there is one, `base`: "
        "1 point per whole yuan. The body's `id` and `version` are set by the server."
    ),
)

schemas["BonusRule"] = obj(
    {
        "name": s("Shown in the points reasons; default: the request's `name`."),
        "conditions": ref("Conditions"),
        "bonus": ref("Bonus"),
        "cap_per_sale": i64("The most points the rule gives on one sale; must be positive.", minimum=1),
        "cap_per_day": i64("The most points the rule gives a member per local day; must be positive.", minimum=1),
        "cap_per_month": i64("The most points the rule gives a member per local calendar month; must be positive.", minimum=1),
    },
    required=["bonus"],
    desc="The `rule` of a `kind: bonus` rule: extra points when the conditions hold, within the caps. The body's `id` and `version` are set by the server.",
)

schemas["Milestone"] = {
    "oneOf": [
        obj(
            {"kind": s(enum=["every_nth_visit"]), "n": i64("Every n-th visit (sale) of the member.", minimum=1, maximum=4294967295), "points": i64(minimum=1)},
            required=["kind", "n", "points"],
        ),
        obj(
            {
                "kind": s(enum=["litres_in_month"]),
                "product": nullable(s("A product code; absent or null: all fuel.")),
                "litres": i64("The threshold, whole litres, crossed within a local calendar month.", minimum=1),
                "points": i64("Given once a month, on the sale that crosses the threshold.", minimum=1),
            },
            required=["kind", "litres", "points"],
        ),
    ],
    "discriminator": {"propertyName": "kind"},
    "description": "A visit milestone, tagged by `kind`. An `n`, `litres` or `points` of zero or less is accepted but never gives points (the lint reports it in `warnings`); an unknown `product` is refused (422 rule_never_fires).",
}

schemas["MilestoneRule"] = obj(
    {
        "name": s("Shown in the points reasons; default: the request's `name`."),
        "milestone": ref("Milestone"),
    },
    required=["milestone"],
    desc="The `rule` of a `kind: milestone` rule. The body's `id` and `version` are set by the server.",
)

RULE_KINDS = ["earn", "bonus", "milestone"]
schemas["StoredRule"] = obj(
    {
        "rule_id": s(),
        "version": i64("1 for the first version; every change adds one.", minimum=1),
        "kind": s(enum=RULE_KINDS),
        "name": s(),
        "body": {
            "anyOf": [ref("EarnRule"), ref("BonusRule"), ref("MilestoneRule")],
            "description": "The rule as sent (its shape follows `kind`), with `id` and, if absent, `name` filled in; its inner `version` is always 0 (the version is `version` above).",
        },
        "active": boolean("Only the newest version of an active rule is in force."),
        "created_by": nullable(s("The staff user who saved this version.", format="uuid")),
        "created_at": i64("When this version was saved: " + US_DESC),
    },
    required=["rule_id", "version", "kind", "name", "body", "active", "created_by", "created_at"],
    desc="A stored version of a points rule.",
)

schemas["ExpiryPolicy"] = {
    "oneOf": [
        obj({"kind": s(enum=["never"])}, required=["kind"], desc="Points never lapse (the default)."),
        obj({"kind": s(enum=["end_of_year_after"])}, required=["kind"], desc="Points earned in a year lapse at the end of the following year (earned in 2025: good through 31 December 2026)."),
        obj(
            {
                "kind": s(enum=["fixed_clearing"]),
                "days": arr(
                    arr({"type": "integer", "minimum": 1, "maximum": 31}, "A pair [month, day] of a real date, e.g. [6, 30].", minItems=2, maxItems=2),
                    "The clearing days, at least one, e.g. `[[6, 30], [12, 31]]`.",
                    minItems=1,
                ),
                "older_than_years": i64("On each clearing day, what is left of lots earned more than this many years before it lapses at the end of the day.", minimum=0, maximum=4294967295),
            },
            required=["kind", "days", "older_than_years"],
            desc="Clearing days (CNPC style).",
        ),
    ],
    "discriminator": {"propertyName": "kind"},
    "description": "When points lapse, tagged by `kind`. Points earned on a local day form that day's lot; spending takes from the oldest lots first; the daily run (POST /api/v1/loyalty/run) lapses what the policy says.",
}

schemas["Qualification"] = obj(
    {
        "metric": s("What qualifies a member for a tier, over the rolling window: spend (net fen, refunds deducted, against the tiers' `qualify_spend_fen`), litres (fuel millilitres, `qualify_litres_ml`) or visits (sales, `qualify_visits`).", enum=["spend", "litres", "visits"]),
        "window_days": i64("The rolling window, 1 to 3660 days (default 365).", minimum=1, maximum=3660),
        "grace_days": i64("How long a member below the tier keeps it before the daily run moves them down, 0 to 3660 days (default 30).", minimum=0, maximum=3660),
    },
    required=["metric", "window_days", "grace_days"],
    desc="How tiers are qualified. Upgrades take effect at once (on the sale that qualifies, or at the daily run); downgrades only at the daily run after the grace period. A member held at a tier by hand (POST /api/v1/customers/{id}/tier) is left alone.",
)

schemas["Referral"] = obj(
    {
        "referrer_points": i64("Points the referrer gets (0 or more; default 200).", minimum=0),
        "referee_points": i64("Points the referred member gets, as a `referral` line of the qualifying sale (0 or more; default 100).", minimum=0),
        "min_net_fen": fen("The referred member's first sale of at least this net amount (less coupon payments) qualifies (0 or more; default 10000).", minimum=0),
    },
    required=["referrer_points", "referee_points", "min_net_fen"],
    desc="Referral rewards (以老带新) for members created with `referred_by`; given once.",
)

schemas["CouponTemplate"] = obj(
    {
        "template_id": s(),
        "name": s(),
        "kind": s("amount_off: `value` fen off the lines it applies to; per_litre_off: `value` fen per litre off fuel lines; percent_off_non_fuel: `value` percent off non-fuel (shop) lines; free_car_wash: one `CAR_WASH` line free.", enum=COUPON_KINDS),
        "value": i64("Fen, fen per litre, percent or washes, by `kind`."),
        "min_amount_fen": fen("What the coupon applies to must come to at least this (after earlier discounts)."),
        "products": arr(s(), "Product codes it applies to; empty: every line its kind fits."),
        "valid_days": i64("A coupon issued from the template is valid for this many days from its `valid_from`."),
        "active": boolean("Coupons are issued only from active templates."),
    },
    required=["template_id", "name", "kind", "value", "min_amount_fen", "products", "valid_days", "active"],
    desc="A coupon template: what its coupons take off and when they apply. The built-in `tier-car-wash` (free_car_wash, 31 days) gives the tiers' monthly car washes.",
)

schemas["MemberCoupon"] = obj(
    {
        "code": s(),
        "customer_id": nullable(s("The member it belongs to; null: anyone may present it.", format="uuid")),
        "kind": s("A discount coupon's kind, or `payment` for a voucher (POST /api/v1/coupons) taken as a `coupon` payment.", enum=COUPON_KINDS + ["payment"]),
        "name": nullable(s("The template's name; null for a voucher.")),
        "value": i64("fen for amount_off and payment, fen per litre for per_litre_off, percent for percent_off_non_fuel, washes for free_car_wash."),
        "min_amount_fen": fen("0 for a voucher."),
        "products": arr(s(), "Empty for a voucher."),
        "valid_from": i64(US_DESC),
        "valid_until": nullable(i64("Null: no expiry. " + US_DESC)),
        "state": s("issued (usable), redeemed (used by the sale `sale_id`; a sale refunded in full gives its discount coupons back) or void (taken back when its redemption was cancelled).", enum=["issued", "redeemed", "void"]),
        "sale_id": nullable(s("The sale that used it.", format="uuid")),
    },
    required=["code", "customer_id", "kind", "name", "value", "min_amount_fen", "products", "valid_from", "valid_until", "state", "sale_id"],
    desc="A member's coupon with its template's terms.",
)

CATALOGUE_KINDS = ["gift", "coupon", "car_wash"]
schemas["CatalogueItem"] = obj(
    {
        "item_id": s(format="uuid"),
        "name": s(),
        "kind": s("gift: handed over at the counter; coupon and car_wash: the redemption issues the member a coupon of `template_id`.", enum=CATALOGUE_KINDS),
        "points_cost": i64(minimum=1),
        "stock": nullable(i64("Items left; null: unlimited.", minimum=0)),
        "template_id": nullable(s("The coupon template of a coupon or car_wash item; null for a gift.")),
        "active": boolean("Only active items may be redeemed."),
    },
    required=["item_id", "name", "kind", "points_cost", "stock", "template_id", "active"],
    desc="An item of the points catalogue.",
)

schemas["Redemption"] = obj(
    {
        "redemption_id": s(format="uuid"),
        "item_id": s(format="uuid"),
        "customer_id": s(format="uuid"),
        "points": i64("Points spent."),
        "state": s(enum=["redeemed", "cancelled"]),
        "coupon_code": nullable(s("The coupon the redemption issued (coupon and car_wash items).")),
        "takes": arr(
            {"type": "array", "prefixItems": [s("The lot's day, YYYY-MM-DD.", format="date"), i64("Points taken from it.")], "minItems": 2, "maxItems": 2, "items": False},
            "The points taken from the member's lots, oldest first, as [earned_on, points] pairs; a cancellation gives them back to these lots.",
        ),
        "created_at": i64(US_DESC),
        "cancelled_at": nullable(i64(US_DESC)),
    },
    required=["redemption_id", "item_id", "customer_id", "points", "state", "coupon_code", "takes", "created_at", "cancelled_at"],
    desc="Points spent on a catalogue item.",
)

schemas["LoyaltyRunReport"] = obj(
    {
        "date": s("The local day run for, YYYY-MM-DD.", format="date"),
        "members_expired": i64("Members whose points lapsed."),
        "points_expired": i64(),
        "tiers_up": i64("Members moved up a tier."),
        "tiers_down": i64("Members moved down after their grace period."),
        "grace_started": i64("Members who fell below their tier and whose grace period started."),
        "car_wash_coupons": i64("Monthly free car-wash coupons issued."),
    },
    required=["date", "members_expired", "points_expired", "tiers_up", "tiers_down", "grace_started", "car_wash_coupons"],
    desc="What a daily loyalty run did. Every part is idempotent: running it again for the same day changes nothing more.",
)

# ---------------------------------------------------------------- responses
responses = {
    "InternalError": {
        "description": "`internal`: an unexpected error; the message carries a reference to the server log.",
        "content": {"application/json": {"schema": ref("Error")}},
    },
    "Unavailable": {
        "description": "`unavailable`: the database is busy; retry.",
        "content": {"application/json": {"schema": ref("Error")}},
    },
}


def json_body(schema):
    return {"application/json": {"schema": schema}}


BODY_ERRORS = ["invalid_json", "payload_too_large", "unsupported_media_type"]
STAFF_AUTH = ["unauthorized", "forbidden"]
POS_AUTH = ["unauthorized", "forbidden", "wrong_station"]

EXTRA_NOTES = {
    "forbidden_staff": "a POS token, or a role that may not do this",
    "forbidden_pos": (
        "a staff token or session of a user whose role may not sell (Sell: "
        "{sell}) or whose scope is not one station (`station:CODE`), or whose station "
        "does not exist"
    ),
}


def forbidden_scope(what):
    """The 403 note of a staff call that checks the data scope."""
    return f"a POS token, a role that may not do this, or {what} outside the caller's scope"


def errors(codes, notes=None):
    """4xx responses for the given codes, grouped by status."""
    notes = notes or {}
    by_status = {}
    for c in codes:
        by_status.setdefault(STATUS[c], []).append(c)
    out = {}
    for st in sorted(by_status):
        parts = []
        for c in by_status[st]:
            d = notes.get(c) or next(d for cc, _, d in ERRORS if cc == c)
            parts.append(f"`{c}`: {d}")
        text = parts[0] + "." if len(parts) == 1 else "\n".join(f"- {x}." for x in parts)
        out[str(st)] = {
            "description": text,
            "content": json_body(ref("Error")),
        }
    return out


def server_errors():
    return {
        "500": {"$ref": "#/components/responses/InternalError"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }


# Security requirements (alternatives). Staff calls take a bearer token or the console's
# session cookie (extract.rs `caller`); POS calls also take a staff user of one station
# who may sell (extract.rs `Pos`).
STAFF = [{"staffToken": []}, {"sessionCookie": []}]
POS = [{"posToken": []}, {"staffToken": []}, {"sessionCookie": []}]
EITHER = [{"staffToken": []}, {"sessionCookie": []}, {"posToken": []}]
NONE = []
UNSAFE_METHODS = {"post", "put", "patch", "delete"}

# ---------------------------------------------------------------- roles (access.rs `allowed`)
ROLE_ORDER = ["admin", "region_manager", "station_manager", "account_manager", "cashier", "analyst"]
ACTIONS = [
    "ManageUsers", "ManageNetwork", "ViewNetwork", "CreateCustomer", "ViewCustomer",
    "SeePersonalData", "IssueCard", "ManageCard", "ViewCard", "ManageCredit",
    "ManagePromotions", "RequestAdjustment", "ApproveAdjustment", "ReceiveCreditPayment",
    "Sell", "ExportPersonalData", "Anonymize", "ManageConsent", "ViewAudit", "RunCheck",
    "ViewAnalytics",
]
ALLOWED = {
    "admin": set(ACTIONS),
    "region_manager": set(ACTIONS) - {"ManageUsers", "ManageNetwork", "Sell", "RunCheck", "ViewAnalytics"},
    "station_manager": {
        "ViewNetwork", "CreateCustomer", "ViewCustomer", "SeePersonalData", "IssueCard",
        "ManageCard", "ViewCard", "ManageCredit", "RequestAdjustment", "ApproveAdjustment",
        "ReceiveCreditPayment", "Sell", "ExportPersonalData", "ManageConsent",
    },
    "account_manager": {
        "ViewNetwork", "CreateCustomer", "ViewCustomer", "SeePersonalData", "IssueCard",
        "ManageCard", "ViewCard", "ManageCredit", "RequestAdjustment",
        "ReceiveCreditPayment", "ManageConsent",
    },
    "cashier": {
        "ViewNetwork", "CreateCustomer", "ViewCustomer", "IssueCard", "ViewCard", "Sell",
        "ManageConsent",
    },
    "analyst": {"ViewNetwork", "ViewCustomer", "ViewCard", "RunCheck", "ViewAnalytics"},
}
assert all(a in ACTIONS for row in ALLOWED.values() for a in row)


def role_list(action):
    return [r for r in ROLE_ORDER if action in ALLOWED[r]]


ROLE_TEXT = {
    a: (f"every role ({', '.join(ROLE_ORDER)})" if len(role_list(a)) == len(ROLE_ORDER) else ", ".join(role_list(a)))
    for a in ACTIONS
}
EXTRA_NOTES["forbidden_pos"] = EXTRA_NOTES["forbidden_pos"].format(sell=ROLE_TEXT["Sell"])


def roles(action):
    return f"Roles: {ROLE_TEXT[action]}."


def op(op_id, tag, summary, security, ok, codes, desc=None, body=None, params=None, notes=None, db=True, extra=None):
    """An operation; its responses are built by `finish` once the method is known."""
    o = {"operationId": op_id, "tags": [tag], "summary": summary}
    if desc:
        o["description"] = desc
    o["security"] = security
    if params:
        o["parameters"] = params
    if body is not None:
        o["requestBody"] = {"required": True, "content": json_body(body)}
    o["__build"] = (ok, list(codes), dict(notes or {}), extra, db)
    return o


CSRF_NOTE = "with the session cookie, a missing or wrong `X-CSRF-Token` header"
UNAUTHORIZED_NOTE = (
    "no token or session cookie, or one that is unknown, revoked or expired (a staff "
    "session ends 12 hours after login or after 30 minutes unused)"
)


def finish(paths):
    """Builds every operation's responses; unsafe methods open to the session cookie get
    the X-CSRF-Token header and its 403."""
    for item in paths.values():
        for method, o in item.items():
            if method == "parameters" or "__build" not in o:
                continue
            ok, codes, notes, extra, db = o.pop("__build")
            cookie = any("sessionCookie" in alt for alt in o["security"])
            if o["security"] and "unauthorized" in codes:
                notes.setdefault("unauthorized", UNAUTHORIZED_NOTE)
            if cookie and method in UNSAFE_METHODS:
                o.setdefault("parameters", []).insert(0, {"$ref": "#/components/parameters/CsrfToken"})
                if "forbidden" not in codes:
                    codes.append("forbidden")
                base = notes.get("forbidden") or next(d for c, _, d in ERRORS if c == "forbidden")
                notes["forbidden"] = f"{base}; or, {CSRF_NOTE}"
            resp = dict(ok)
            resp.update(errors(codes, notes))
            if extra:
                resp.update(extra)
            if db:
                resp.update(server_errors())
            o["responses"] = dict(sorted(resp.items()))
            # Keep the usual key order: parameters before the body and responses.
            for k in ("requestBody", "responses"):
                if k in o:
                    o[k] = o.pop(k)


def ok(status, schema, desc):
    return {str(status): {"description": desc, "content": json_body(schema)}}


def path_param(name, desc, schema=None):
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": schema or s()}


def query_param(name, desc, required=False, schema=None):
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema or s()}


staff_notes = {"forbidden": EXTRA_NOTES["forbidden_staff"]}
pos_notes = {"forbidden": EXTRA_NOTES["forbidden_pos"]}
customer_scope_notes = {"forbidden": forbidden_scope("a customer")}
card_scope_notes = {"forbidden": forbidden_scope("a card")}
CUSTOMER_SCOPE = (
    " The customer must be in the caller's scope (403 forbidden otherwise): through its "
    "home station for `region:CODE` and `station:CODE` users, through being theirs "
    "(`account_manager_id`) for `own` users."
)
CARD_SCOPE = (
    " The card must be in the caller's scope (403 forbidden otherwise): through its "
    "customer, or for an anonymous card through the station that issued it."
)
card_param = path_param("card_no", "The card number: " + card_in_desc + " A malformed number answers 404 card_not_found.")
CARD_STATE_ERRS = ["card_frozen", "card_lost", "card_cancelled", "card_replaced"]

IDEMPOTENCY = (
    "Idempotent on `pos_txn_id` (per station): the first successful request answers "
    "201 and stores its answer; a repeat with the same body answers 200 with the same "
    "body and changes nothing; the same `pos_txn_id` with a different body (or for "
    "another kind of request) answers 409 idempotency_conflict. A refusal (4xx) "
    "changes nothing and stores nothing, so the till may retry a corrected request "
    "under the same `pos_txn_id`"
)
PIN_NOTE = (
    " The one deliberate exception: a wrong PIN is counted (pin_incorrect, and "
    "pin_locked once the tries run out), or PINs could be guessed."
)
TOKEN_NOTE = (
    " Callers: a station's POS token, or a staff user (bearer token or session cookie) "
    "whose role may sell (" + ROLE_TEXT["Sell"] + ") and whose scope is one station "
    "(`station:CODE`), acting as that station's POS. Missing or bad token: 401; any "
    "other staff user: 403 forbidden; a `station_code` of another station: 403 "
    "wrong_station."
)

paths = {}

# ---------------------------------------------------------------- auth and users
paths["/api/v1/auth/login"] = {
    "post": op(
        "login", "auth", "Sign in: a staff bearer token and the console's session cookie", NONE,
        {"200": {
            "description": "Signed in.",
            "headers": {"Set-Cookie": {
                "description": "`fc_session=<token>; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200` (the session's lifetime in seconds), plus `; Secure` when the server is configured for TLS.",
                "schema": s(),
            }},
            "content": json_body(obj({
                "token": s("The session token, `fcs_` followed by 64 hex digits: send it as `Authorization: Bearer <token>`; the same token is the `fc_session` cookie.", pattern="^fcs_[0-9a-f]{64}$"),
                "expires_at": time("When the session ends at the latest (12 hours after login by default); it ends earlier after 30 minutes unused, or at logout."),
                "role": s(enum=["admin", "analyst", "region_manager", "station_manager", "account_manager", "cashier"]),
                "csrf_token": s("64 hex digits: the `X-CSRF-Token` header that POST and PUT requests authenticated by the session cookie must carry.", pattern="^[0-9a-f]{64}$"),
            }, required=["token", "expires_at", "role", "csrf_token"])),
        }},
        BODY_ERRORS + ["invalid_credentials", "account_locked", "rate_limited"],
        desc=("Exchanges a username and password for a staff session. The token is "
              "returned in the body (for `Authorization: Bearer <token>`) and set as the "
              "console's session cookie `fc_session` (`HttpOnly`, `SameSite=Strict`); a "
              "request authenticated by the cookie with a method other than GET, HEAD or "
              "OPTIONS must send `X-CSRF-Token: <csrf_token>` (else 403 forbidden). A "
              "session ends 12 hours after login or after 30 minutes unused. An unknown, "
              "disabled or wrong login answers 401 invalid_credentials; after 10 wrong "
              "passwords the account locks for 30 minutes (423 account_locked). At most "
              "30 sign-in attempts a minute are taken from one client address (429 "
              "rate_limited, checked before the password). Logins and failed logins are "
              "audited."),
        body=obj({"username": s(), "password": s(format="password")}, required=["username", "password"]),
        notes={"invalid_credentials": "wrong username or password, or a disabled account",
               "rate_limited": "more than 30 sign-in attempts in a minute from this client address (by default); wait and retry"},
    )
}
paths["/api/v1/auth/logout"] = {
    "post": op(
        "logout", "auth", "End the caller's staff session", STAFF,
        {"204": {
            "description": "The session is revoked (the bearer token and the session cookie sent, whichever were sent).",
            "headers": {"Set-Cookie": {"description": "`fc_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`: clears the console's cookie.", "schema": s()}},
        }},
        STAFF_AUTH,
        desc="Revokes the bearer token and the `fc_session` cookie's session sent with the request, and clears the cookie.",
        notes={"forbidden": "a POS token"},
    )
}
paths["/api/v1/users"] = {
    "post": op(
        "createUser", "users", "Create a staff user", STAFF,
        ok(201, obj({"id": s(format="uuid"), "username": s(), "role": s()}, required=["id", "username", "role"]), "Created."),
        STAFF_AUTH + BODY_ERRORS + ["conflict", "validation_failed"],
        desc=roles("ManageUsers"),
        body=obj({
            "username": s("1 to 64 letters, digits, '.', '_' or '-' (trimmed).", minLength=1, maxLength=64),
            "role": s(enum=["admin", "analyst", "region_manager", "station_manager", "account_manager", "cashier"]),
            "scope": s("Where the user's rights apply: company (the default: everywhere), region:CODE (the region's stations and their customers), station:CODE (one station and its customers; such a user may also act as the station's POS if the role may sell) or own (the customers whose account_manager_id is the user). Codes are not checked to exist."),
            "password": s("10 to 200 characters with letters and digits.", format="password", minLength=10, maxLength=200),
        }, required=["username", "role", "password"]),
        notes={**staff_notes, "conflict": "the username is taken"},
    )
}

# ---------------------------------------------------------------- network
paths["/api/v1/stations"] = {
    "get": op(
        "listStations", "network", "List stations and regions", STAFF,
        ok(200, obj({"stations": arr(ref("Station")), "regions": arr(ref("Region"))}, required=["stations", "regions"]), "Stations and regions, by code."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    ),
    "post": op(
        "createStation", "network", "Create a station", STAFF,
        ok(201, ref("Station"), "Created."),
        STAFF_AUTH + BODY_ERRORS + ["conflict", "validation_failed"],
        desc=roles("ManageNetwork") + " A `region` code that does not exist yet is created.",
        body=obj({
            "code": s("1 to 32 letters, digits, '-' or '_'.", minLength=1, maxLength=32, pattern="^[A-Za-z0-9_-]+$"),
            "name": s("1 to 100 characters.", minLength=1, maxLength=100),
            "region": s("Region code."),
            "address": s(),
            "lat": {"type": "number", "format": "double", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "format": "double", "minimum": -180, "maximum": 180},
            "time_zone": s("IANA time zone; default Asia/Shanghai."),
            "province": s("Province as its plate character, e.g. 京."),
            "opening_hours": s(),
        }, required=["code", "name"]),
        notes={**staff_notes, "conflict": "the station code exists"},
    ),
}
paths["/api/v1/stations/{code}/prices"] = {
    "parameters": [path_param("code", "Station code.")],
    "get": op(
        "getStationPrices", "network", "A station's prices: in force at a time, and the history", EITHER,
        ok(200, obj({
            "station_code": s(),
            "at": time(),
            "current": {"type": "object", "description": "Product code → unit price (fen) in force at `at`.", "additionalProperties": fen()},
            "history": arr(obj({"product_code": s(), "unit_price_fen": fen(), "effective_from": time()}, required=["product_code", "unit_price_fen", "effective_from"]), "By product code, newest first."),
        }, required=["station_code", "at", "current", "history"]), "Prices."),
        STAFF_AUTH + ["station_not_found", "validation_failed"],
        desc="Staff (" + ROLE_TEXT["ViewNetwork"] + "; any station, whatever the caller's scope) or a POS token of any station.",
        params=[
            query_param("product", "Only this product code."),
            query_param("at", "RFC 3339 time for `current`; default now.", schema=s(format="date-time")),
        ],
        notes={"forbidden": "a role that may not view the network", "validation_failed": "`at` is not an RFC 3339 time, or more than a day in the future"},
    ),
    "post": op(
        "addStationPrice", "network", "Set a price from a time on (history is kept)", STAFF,
        ok(201, obj({"station_code": s(), "product_code": s(), "unit_price_fen": fen(), "effective_from": time()}, required=["station_code", "product_code", "unit_price_fen", "effective_from"]), "Recorded."),
        STAFF_AUTH + BODY_ERRORS + ["station_not_found", "unknown_product", "validation_failed"],
        desc=roles("ManageNetwork") + " The station must be in the caller's scope (403 forbidden otherwise).",
        body=obj({
            "product_code": s(),
            "unit_price_fen": fen("Per litre (fuel), per kWh (EV) or per unit, 1 to 1000000.", minimum=1, maximum=1000000),
            "effective_from": time("RFC 3339; default now."),
        }, required=["product_code", "unit_price_fen"]),
        notes={"forbidden": forbidden_scope("a station")},
    ),
}
paths["/api/v1/products"] = {
    "get": op(
        "listProducts", "network", "List products", STAFF,
        ok(200, obj({"products": arr(ref("Product"))}, required=["products"]), "Products, by code."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    ),
    "post": op(
        "createProduct", "network", "Create a product", STAFF,
        ok(201, obj({"id": s(format="uuid"), "code": s()}, required=["id", "code"]), "Created."),
        STAFF_AUTH + BODY_ERRORS + ["conflict", "validation_failed"],
        desc=roles("ManageNetwork"),
        body=obj({
            "code": s("1 to 32 characters.", minLength=1, maxLength=32),
            "name": s("1 to 100 characters.", minLength=1, maxLength=100),
            "kind": s(enum=PRODUCT_KINDS),
            "category": s("Non-fuel category, at most 32 characters (card rules may restrict categories)."),
        }, required=["code", "name", "kind"]),
        notes={**staff_notes, "conflict": "the product code exists"},
    ),
}
paths["/api/v1/tiers"] = {
    "get": op(
        "listTiers", "network", "List membership tiers", STAFF,
        ok(200, obj({"tiers": arr(ref("Tier"))}, required=["tiers"]), "Tiers, by rank."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    )
}
paths["/api/v1/recharge-promotions"] = {
    "get": op(
        "listRechargePromotions", "network", "List recharge promotions", STAFF,
        ok(200, obj({"promotions": arr(ref("RechargePromotion"))}, required=["promotions"]), "Promotions, by minimum amount."),
        STAFF_AUTH, desc=roles("ViewNetwork"),
        notes=staff_notes,
    ),
    "post": op(
        "createRechargePromotion", "network", "Create a recharge promotion (\"top up 1000, get 30\")", STAFF,
        ok(201, obj({"id": s(format="uuid"), "name": s(), "min_amount_fen": fen(), "bonus_fen": fen()}, required=["id", "name", "min_amount_fen", "bonus_fen"]), "Created."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed"],
        desc=roles("ManagePromotions") + " A recharge of at least `min_amount_fen` gets the largest bonus in force.",
        body=obj({
            "name": s("1 to 100 characters.", minLength=1, maxLength=100),
            "min_amount_fen": fen("Positive.", minimum=1),
            "bonus_fen": fen("0 to min_amount_fen.", minimum=0),
            "valid_from": time("RFC 3339; default now."),
            "valid_until": time("RFC 3339, after valid_from; absent: open-ended."),
        }, required=["name", "min_amount_fen", "bonus_fen"]),
        notes=staff_notes,
    ),
}
paths["/api/v1/coupons"] = {
    "post": op(
        "issueCoupon", "network", "Issue an amount-off coupon", STAFF,
        ok(201, obj({"code": s(), "amount_fen": fen()}, required=["code", "amount_fen"]), "Issued."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "conflict", "validation_failed"],
        desc=roles("ManagePromotions") + " The POS takes the coupon as a payment (method `coupon`) from `valid_from` until `valid_until`.",
        body=obj({
            "code": s("1 to 32 characters.", minLength=1, maxLength=32),
            "customer_id": s("Only this customer may use it.", format="uuid"),
            "amount_fen": fen("1 to 10000000.", minimum=1, maximum=10000000),
            "valid_from": time("RFC 3339; default now."),
            "valid_until": time("RFC 3339, after valid_from; absent: no expiry."),
        }, required=["code", "amount_fen"]),
        notes={**staff_notes, "conflict": "the coupon code exists"},
    )
}

# ---------------------------------------------------------------- customers
paths["/api/v1/customers"] = {
    "get": op(
        "searchCustomers", "customers", "Find customers by phone, card number, plate, ID number, member code or name", STAFF,
        ok(200, obj({
            "matched_by": s("How `q` was read: the first of phone, card_no, plate, id_number that `q` parses as (even with no match); else member_code if a customer has it; else name.", enum=["phone", "card_no", "plate", "id_number", "member_code", "name"]),
            "customers": arr(ref("CustomerMatch"), maxItems=20),
        }, required=["matched_by", "customers"]), "At most 20 matches."),
        STAFF_AUTH + ["validation_failed", "rate_limited"],
        desc=(roles("ViewCustomer") + " Exact matches only: a phone, card number, plate "
              "or ID number (GB 11643) as normalised; a member code; else the whole name "
              "(names are stored encrypted, so there is no partial match; case and spaces "
              "are ignored). Results are not limited to the caller's scope, but each is "
              "masked (name, phone, plates) unless " + SEES + ". Each user may make 120 "
              "lookups a minute (by default; a burst of 120, refilled evenly), else 429 "
              "rate_limited. Searches are audited (how `q` matched and how many results, "
              "never `q`)."),
        params=[query_param("q", "1 to 64 characters (trimmed).", required=True, schema=s(minLength=1, maxLength=64))],
        notes={**staff_notes, "validation_failed": "`q` is missing, empty or longer than 64 characters",
               "rate_limited": "the user made too many lookups (120 a minute by default); wait and retry"},
    ),
    "post": op(
        "createCustomer", "customers", "Create a customer (with vehicles and contacts)", STAFF,
        ok(201, ref("CustomerProfile"), "Created: the profile, with a new member code."),
        STAFF_AUTH + BODY_ERRORS + ["station_not_found", "validation_failed"],
        desc=(roles("CreateCustomer") + " The home station must be in the caller's scope "
              "(403 forbidden otherwise; not checked for users of scope `own`, whose new "
              "customers are theirs by default); a `station:CODE` user's customers get "
              "that station by default, a `region:CODE` user must name one (422 "
              "validation_failed). An `id_number` needs `consent_sensitive: true` (422 "
              "validation_failed otherwise). Consents given are recorded (channel "
              "`counter`). The answer is the profile, masked as for GET."),
        body=ref("CustomerInput"),
        notes={"forbidden": forbidden_scope("a home station"), "station_not_found": "`home_station` (or the user's own station) names no station",
               "validation_failed": "a field is missing, malformed or out of range (e.g. an invalid ID number, or one without consent_sensitive, no home_station from a region-scoped user, or a referred_by that names no member); the message names it"},
    ),
}
cust_param = path_param("id", "Customer id.", s(format="uuid"))
paths["/api/v1/customers/{id}"] = {
    "parameters": [cust_param],
    "get": op(
        "getCustomer", "customers", "A customer's profile", STAFF,
        ok(200, ref("CustomerProfile"), "The profile."),
        STAFF_AUTH + ["customer_not_found"],
        desc=(roles("ViewCustomer") + " Any customer may be read, but personal data "
              "(name, phone, birthday, address, vehicle plates, contacts) is masked unless "
              + SEES + "; the ID number is always masked; card numbers are masked unless "
              "the role may see personal data. Every read is audited."),
        notes=staff_notes,
    )
}
paths["/api/v1/customers/{id}/vehicles"] = {
    "parameters": [cust_param],
    "post": op(
        "addVehicle", "customers", "Add a vehicle to a customer", STAFF,
        ok(201, obj({"id": s(format="uuid"), "plate": s("Normalised: upper-case, no separators.")}, required=["id", "plate"]), "Added."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed"],
        desc=roles("CreateCustomer") + CUSTOMER_SCOPE,
        body=ref("VehicleInput"),
        notes=customer_scope_notes,
    )
}
paths["/api/v1/customers/{id}/credit"] = {
    "parameters": [cust_param],
    "put": op(
        "setCreditAgreement", "customers", "Set a customer's credit (挂账) agreement", STAFF,
        ok(200, obj({"customer_id": s(format="uuid"), "credit_limit_fen": fen(), "billing_day": i64(), "owed_fen": fen()}, required=["customer_id", "credit_limit_fen", "billing_day", "owed_fen"]), "Set."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed"],
        desc=roles("ManageCredit") + " Creates or changes the agreement; the limit may not go below what the customer owes." + CUSTOMER_SCOPE,
        body=obj({
            "credit_limit_fen": fen("0 to 1000000000.", minimum=0, maximum=1000000000),
            "billing_day": i64("Day of the month, 1 to 28.", minimum=1, maximum=28, default=1),
        }, required=["credit_limit_fen"]),
        notes=customer_scope_notes,
    )
}

paths["/api/v1/customers/{id}/portal-password"] = {
    "parameters": [cust_param],
    "put": op(
        "setPortalPassword", "customers", "Set or remove a member's portal password", STAFF,
        ok(200, obj({
            "customer_id": s(format="uuid"),
            "portal_password_set": boolean("Whether the member now has a portal password."),
            "sessions_ended": i64("The member's portal sessions this ended."),
        }, required=["customer_id", "portal_password_set", "sessions_ended"]), "Set or removed."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed"],
        desc=(roles("ManageCard") + " The member portal (`/m/`) signs a member in with the "
              "phone on the member's record and this password (argon2id; after 10 wrong "
              "passwords it locks for 30 minutes), or with a card and its PIN. Setting the "
              "password clears its lockout; setting or removing it ends every portal session "
              "of the member. Audited (customer.portal_password), without the password."
              + CUSTOMER_SCOPE),
        body=obj({
            "password": {"type": ["string", "null"], "minLength": 8, "maxLength": 200,
                         "description": "8 to 200 characters, not only spaces; null removes the password (the member then signs in with a card and its PIN only)."},
        }, required=["password"]),
        notes={
            **customer_scope_notes,
            "validation_failed": "a password shorter than 8 or longer than 200 characters, only spaces, not a string or null, or an anonymised customer; the message names it",
        },
    )
}

paths["/api/v1/customers/{id}/credit/payments"] = {
    "parameters": [cust_param],
    "post": op(
        "receiveCreditPayment", "customers", "Record money received from a credit (挂账) customer", STAFF,
        {
            "200": {"description": "A repeat with a `request_id` already recorded for this customer: the first payment (its id and amount) with what the customer owes now; nothing changes.", "content": json_body(ref("CreditPayment"))},
            "201": {"description": "Recorded.", "content": json_body(ref("CreditPayment"))},
        },
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "customer_not_found", "no_credit_account", "conflict"],
        desc=(roles("ReceiveCreditPayment") + " The customer owes less by `amount_fen`, "
              "which may not exceed what the customer owes now. With `request_id` a "
              "retried request records once: the first answers 201, a later one with the "
              "same `request_id` and amount answers 200 with the first payment, and with "
              "another amount 409 `conflict`. Without `request_id` every request "
              "records a payment." + CUSTOMER_SCOPE),
        body=obj({
            "amount_fen": fen("1 to 1000000000, and no more than the customer owes now.", minimum=1, maximum=1000000000),
            "method": s("bank_transfer is booked with bank_card.", enum=["cash", "wechat", "alipay", "bank_card", "bank_transfer"]),
            "reference": s("Free text, e.g. the bank's reference; shown on the statement."),
            "received_at": time("RFC 3339 with offset, not more than a day in the future and not before 2000; default now. The statement dates the payment by it."),
            "request_id": s("1 to 64 bytes, not blank; makes a retried request record once (per customer)."),
        }, required=["amount_fen", "method"]),
        notes={
            **customer_scope_notes,
            "validation_failed": "an unknown method, an amount out of range or more than the customer owes, a bad received_at, or a blank or too long request_id; the message names it",
            "no_credit_account": "the customer has no credit (挂账) agreement",
            "conflict": "the request_id was recorded before with another amount, or a concurrent request with it recorded the payment first",
        },
    )
}
paths["/api/v1/customers/{id}/statement"] = {
    "parameters": [cust_param],
    "get": op(
        "getCreditStatement", "customers", "A credit (挂账) customer's monthly statement", STAFF,
        ok(200, ref("CreditStatement"), "The statement."),
        STAFF_AUTH + ["validation_failed", "customer_not_found", "no_credit_account"],
        desc=(roles("ManageCredit") + " The opening balance, every credit sale, refund and "
              "payment of the calendar month (Asia/Shanghai time) with the balance after "
              "each, and the closing balance." + CUSTOMER_SCOPE),
        params=[query_param("month", "The calendar month, YYYY-MM.", required=True, schema=s(pattern="^[0-9]{4}-[0-9]{2}$"))],
        notes={**customer_scope_notes, "validation_failed": "`month` is missing or not a month YYYY-MM"},
    )
}

# ---------------------------------------------------------------- privacy (privacy.rs)
paths["/api/v1/customers/{id}/export"] = {
    "parameters": [cust_param],
    "get": op(
        "exportCustomer", "privacy", "Export everything held about a person (PIPL access right)", STAFF,
        ok(200, ref("CustomerExport"), "The export, unmasked."),
        STAFF_AUTH + ["customer_not_found"],
        desc=(roles("ExportPersonalData") + " Everything held about the customer, "
              "unmasked (including the ID number): the record, vehicles, contacts, cards "
              "with balances, points, sales, ledger movements, consents and the audit "
              "entries about the customer. The export is audited." + CUSTOMER_SCOPE),
        notes=customer_scope_notes,
    )
}
paths["/api/v1/customers/{id}/anonymize"] = {
    "parameters": [cust_param],
    "post": op(
        "anonymizeCustomer", "privacy", "Erase a person's personal data (PIPL deletion right)", STAFF,
        ok(200, obj({"id": s(format="uuid"), "anonymized_at": time()}, required=["id", "anonymized_at"]), "Anonymised (or already anonymised: the first time, unchanged)."),
        STAFF_AUTH + ["customer_not_found"],
        desc=(roles("Anonymize") + " Erases the name (replaced by `已注销`), phone, ID "
              "number, address, birthday, occupation, notes, tags, source code and the "
              "consent flags; deletes the vehicles and contacts; removes a plate bound to "
              "the customer's cards. Keeps the customer id, member code, cards and "
              "balances, sales, the ledger, points, the credit agreement, consent records "
              "and audit entries, so every balance still adds up; cards stay usable. "
              "Repeating the call changes nothing and answers the same. No body." + CUSTOMER_SCOPE),
        notes=customer_scope_notes,
    )
}
paths["/api/v1/customers/{id}/consents"] = {
    "parameters": [cust_param],
    "post": op(
        "recordConsent", "privacy", "Record a customer's consent to a purpose, or its withdrawal", STAFF,
        ok(200, obj({"customer_id": s(format="uuid"), "consents": arr(ref("Consent"), "All the customer's consent records, oldest grant first.")}, required=["customer_id", "consents"]), "Recorded; the customer's consents now."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed"],
        desc=(roles("ManageConsent") + " Granting a purpose that is already granted "
              "changes nothing; withdrawing closes the open grant. `marketing` and "
              "`sensitive` also set the profile's `consent` flags; withdrawing "
              "`sensitive` erases the customer's ID number. Audited." + CUSTOMER_SCOPE),
        body=obj({
            "purpose": s(enum=CONSENT_PURPOSES),
            "channel": s("How the customer gave or withdrew it.", enum=CONSENT_CHANNELS),
            "granted": boolean("true: grant; false: withdraw."),
        }, required=["purpose", "channel", "granted"]),
        notes={**customer_scope_notes, "validation_failed": "an unknown purpose or channel"},
    )
}
paths["/api/v1/audit"] = {
    "get": op(
        "listAuditEntries", "privacy", "Read the audit log", STAFF,
        ok(200, obj({"entries": arr(ref("AuditEntry"), "Newest first.")}, required=["entries"]), "Audit entries."),
        STAFF_AUTH,
        desc=(roles("ViewAudit") + " The newest entries of the append-only, hash-chained "
              "audit log (logins, user and station creation, price changes, customer "
              "creation, reads, searches, exports, anonymisation, consents, card "
              "changes), whatever the caller's scope."),
        params=[
            query_param("target", "Only entries about this target id (e.g. a customer or card id); absent or empty: all."),
            query_param("limit", "How many entries, 1 to 1000 (values outside are clamped); default 100.", schema={"type": "integer", "format": "int64", "default": 100}),
        ],
        notes=staff_notes,
    )
}

# ---------------------------------------------------------------- adjustments
paths["/api/v1/adjustments"] = {
    "get": op(
        "listAdjustments", "adjustments", "List manual adjustments", STAFF,
        ok(200, obj({"adjustments": arr(ref("Adjustment"), "The 200 newest, newest first.", maxItems=200)}, required=["adjustments"]), "Adjustments."),
        STAFF_AUTH,
        desc=roles("RequestAdjustment") + " Lists every adjustment, whatever the caller's scope.",
        params=[query_param("state", "Only adjustments in this state; absent: all. Any other value is 422 `validation_failed`.", schema=s(enum=ADJUSTMENT_STATES))],
        notes=staff_notes,
    ),
    "post": op(
        "requestAdjustment", "adjustments", "Ask for a manual adjustment of a card's balance or a customer's points", STAFF,
        ok(201, ref("Adjustment"), "Created, pending."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "card_not_found", "customer_not_found"],
        desc=(roles("RequestAdjustment") + " Maker-checker: the adjustment is created "
              "`pending` and nothing moves until another person approves it "
              "(POST /api/v1/adjustments/{id}/approve). Send either `card_no` with "
              "`amount_fen` (the card's paid balance) or `customer_id` with `points`. The "
              "card's state is not checked here. The card (through its customer, or an "
              "anonymous card through its issuing station) or the customer must be in the "
              "caller's scope (403 forbidden otherwise)."),
        body=obj({
            "card_no": s("With amount_fen. " + card_in_desc),
            "amount_fen": fen("With card_no: non-zero, −10000000 to 10000000; positive adds to the card's paid balance, negative takes from it.", minimum=-10000000, maximum=10000000),
            "customer_id": s("With points.", format="uuid"),
            "points": i64("With customer_id: non-zero, −10000000 to 10000000; positive adds points, negative takes them.", minimum=-10000000, maximum=10000000),
            "reason": s("Why: 4 to 500 characters (trimmed).", minLength=4, maxLength=500),
        }, required=["reason"]),
        notes={
            "forbidden": forbidden_scope("a card or customer"),
            "validation_failed": "a reason too short or too long, a malformed card number, a zero or too large amount or points, or not exactly one of card_no with amount_fen and customer_id with points; the message names it",
            "card_not_found": "card_no names no card",
            "customer_not_found": "customer_id names no customer",
        },
    ),
}
paths["/api/v1/adjustments/{id}/{decision}"] = {
    "parameters": [
        path_param("id", "The adjustment's id.", s(format="uuid")),
        path_param("decision", "approve or reject; any other value answers 404 not_found.", s(enum=["approve", "reject"])),
    ],
    "post": op(
        "decideAdjustment", "adjustments", "Approve or reject a pending adjustment (the checker)", STAFF,
        ok(200, ref("Adjustment"), "Decided: approved (posted to the ledger) or rejected."),
        STAFF_AUTH + ["not_found", "conflict", "insufficient_balance"],
        desc=(roles("ApproveAdjustment") + " The checker must be someone other than the "
              "maker who asked for it. Approving posts the amount to the card's paid "
              "balance or the customer's points; rejecting moves nothing. Either way the "
              "decision is final. The adjustment's card or customer must be in the "
              "checker's scope (403 forbidden otherwise)."),
        notes={
            "forbidden": "a POS token, a role that may not approve adjustments, the caller is the adjustment's maker, or the adjustment's card or customer is outside the caller's scope",
            "not_found": "no adjustment with this id, or a decision other than approve or reject",
            "conflict": "the adjustment is already approved or rejected",
            "insufficient_balance": "approving would take the card's paid balance or the customer's points below zero; the adjustment stays pending",
        },
    )
}

# ---------------------------------------------------------------- cards
paths["/api/v1/cards"] = {
    "post": op(
        "issueCard", "cards", "Issue a card", STAFF,
        ok(201, ref("IssuedCard"), "Issued; the full card number is shown once."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "card_not_found", "station_not_found", "validation_failed"] + CARD_STATE_ERRS,
        desc=(roles("IssueCard") + " personal cards are for individuals, company and "
              "fleet_main cards for companies, all three need `customer_id`; anonymous "
              "cards have no customer (register them later); fleet_sub cards name "
              "`main_card_no` (a usable fleet_main card) and belong to its customer. "
              "Scope: the customer, the main card and the issuing station must be in the "
              "caller's scope (403 forbidden otherwise). The issuing station "
              "(`station_code`, by default a `station:CODE` user's station) is recorded on "
              "the card; it puts an anonymous card in scope. An anonymous card issued by a "
              "user whose scope is not company must have one (422 validation_failed)."),
        body=obj({
            "customer_id": s(format="uuid"),
            "kind": s(enum=CARD_KINDS),
            "main_card_no": s("fleet_sub only: the fleet main card. " + card_in_desc),
            "limits": ref("CardRules"),
            "pin": s("6 digits.", pattern="^[0-9]{6}$"),
            "cap_fen": fen("Face-value cap; company and fleet cards only (personal and anonymous cards follow the prepaid-card caps).", minimum=1),
            "balance_mode": s("Default pool.", enum=["pool", "allocated"]),
            "station_code": s("The issuing station (404 station_not_found if there is none; it must be in the caller's scope). Default: the user's station for a `station:CODE` user, else none; required for an anonymous card issued by a user of region or own scope."),
        }, required=["kind"]),
        notes={"forbidden": forbidden_scope("a customer, main card or station"), "validation_failed": "a field is missing, malformed or out of range (e.g. a card kind that does not fit the customer, or an anonymous card without `station_code` from a user whose scope is not company); the message names it", "card_not_found": "`main_card_no` names no card", "station_not_found": "`station_code` (or the user's own station) names no station", "card_frozen": "the main card is frozen", "card_lost": "the main card was reported lost", "card_cancelled": "the main card is cancelled", "card_replaced": "the main card was replaced"},
    )
}
paths["/api/v1/cards/{card_no}"] = {
    "parameters": [card_param],
    "get": op(
        "getCard", "cards", "A card: state, balance, limits and usage", EITHER,
        ok(200, ref("CardDetail"), "The card."),
        STAFF_AUTH + ["card_not_found"],
        desc="Staff (" + ROLE_TEXT["ViewCard"] + "; any card, whatever the caller's scope) or a POS token of any station. Card numbers are masked for roles that may not see personal data; POS tokens see them in full.",
        notes={"forbidden": "a role that may not view cards"},
    )
}
paths["/api/v1/cards/{card_no}/state"] = {
    "parameters": [card_param],
    "post": op(
        "setCardState", "cards", "Freeze, unfreeze, report lost or cancel a card", STAFF,
        ok(200, obj({"card_no": s(card_no_desc), "state": s(enum=CARD_STATES[:4])}, required=["card_no", "state"]), "The card's state (also when it already was in it)."),
        STAFF_AUTH + BODY_ERRORS + ["card_not_found", "validation_failed", "card_not_usable", "card_has_balance"],
        desc=(roles("ManageCard") + " Allowed moves: active → frozen/lost/cancelled; frozen → "
              "active/lost/cancelled; lost → active/cancelled. Cancelled and replaced are "
              "final. A card is cancelled only when it holds no money. Back to active "
              "resets the wrong-PIN count. Replace a card with POST …/replace." + CARD_SCOPE),
        body=obj({
            "state": s(enum=CARD_STATES[:4]),
            "reason": s("At most 200 characters."),
        }, required=["state"]),
        notes={**card_scope_notes, "card_not_usable": "the card cannot move from its state to this one", "validation_failed": "an unknown state, `replaced`, or a reason over 200 characters"},
    )
}
paths["/api/v1/cards/{card_no}/replace"] = {
    "parameters": [card_param],
    "post": op(
        "replaceCard", "cards", "Replace a card with a new one that carries its balance", STAFF,
        ok(201, ref("ReplacementCard"), "The new card."),
        STAFF_AUTH + ["card_not_found", "card_not_usable", "conflict"],
        desc=(roles("ManageCard") + " The new card carries the balance (paid and bonus), "
              "rules, cap and sub-cards, without a PIN; the old card becomes `replaced`. "
              "Refused while a pump authorisation is pending on the card." + CARD_SCOPE),
        notes={**card_scope_notes, "card_not_usable": "the card is cancelled or replaced, or a pump authorisation is pending", "conflict": "the new card number drawn is in use (retry)"},
    )
}
paths["/api/v1/cards/{card_no}/register"] = {
    "parameters": [card_param],
    "post": op(
        "registerCard", "cards", "Register an anonymous card to an individual customer (转卡)", STAFF,
        ok(200, ref("CardSummary"), "The registered card."),
        STAFF_AUTH + BODY_ERRORS + ["card_not_found", "customer_not_found", "validation_failed", "card_not_usable"] + CARD_STATE_ERRS,
        desc=roles("ManageCard") + CARD_SCOPE + " The customer must be in the caller's scope too.",
        body=obj({"customer_id": s(format="uuid")}, required=["customer_id"]),
        notes={"forbidden": forbidden_scope("the card or the customer"), "validation_failed": "the customer is not an individual", "card_not_usable": "the card is not anonymous"},
    )
}
paths["/api/v1/cards/{card_no}/limits"] = {
    "parameters": [card_param],
    "put": op(
        "setCardLimits", "cards", "Replace a card's rules (limits)", STAFF,
        ok(200, obj({"card_no": s(card_no_desc), "limits": ref("CardRules")}, required=["card_no", "limits"]), "The card's rules now."),
        STAFF_AUTH + BODY_ERRORS + ["card_not_found", "validation_failed"],
        desc=roles("ManageCard") + " The body replaces all of the card's rules; `{}` removes them." + CARD_SCOPE,
        body=ref("CardRules"),
        notes={**card_scope_notes, "invalid_json": "the body is not valid JSON, or names an unknown rule"},
    )
}
paths["/api/v1/cards/{card_no}/pin"] = {
    "parameters": [card_param],
    "put": op(
        "setCardPin", "cards", "Set, change or remove a card's PIN", STAFF,
        ok(200, obj({"card_no": s(card_no_desc), "pin_set": boolean()}, required=["card_no", "pin_set"]), "Done."),
        STAFF_AUTH + BODY_ERRORS + ["card_not_found", "validation_failed"],
        desc=roles("ManageCard") + " Also unlocks a card locked by wrong PINs (the count is reset)." + CARD_SCOPE,
        body=obj({"pin": nullable(s("6 digits; null or absent removes the PIN.", pattern="^[0-9]{6}$"))}),
        notes=card_scope_notes,
    )
}
paths["/api/v1/cards/{card_no}/allocations"] = {
    "parameters": [path_param("card_no", "The fleet main card (allocated mode). " + card_in_desc)],
    "post": op(
        "allocateToSubCard", "cards", "Move money between a fleet main card and a sub-card (圈存)", STAFF,
        ok(201, obj({"main_balance_fen": fen(), "sub_balance_fen": fen()}, required=["main_balance_fen", "sub_balance_fen"]), "Moved; balances after."),
        STAFF_AUTH + BODY_ERRORS + ["insufficient_balance", "card_not_found", "conflict", "validation_failed", "card_not_usable"] + CARD_STATE_ERRS,
        desc=(roles("ManageCard") + " Needs a fleet_main card in allocated mode and one of "
              "its sub-cards, both active. Reusing a `request_id` answers 409 conflict "
              "(it is not replayed). The main card must be in the caller's scope (403 "
              "forbidden otherwise)."),
        body=obj({
            "sub_card_no": s(card_in_desc),
            "amount_fen": fen("Positive: main → sub; negative: sub → main. Non-zero, |amount| ≤ 100000000.", minimum=-100000000, maximum=100000000),
            "request_id": s("At most 64 characters; makes the move once-only per main card."),
        }, required=["sub_card_no", "amount_fen"]),
        notes={**card_scope_notes, "conflict": "this request_id was used before", "card_not_usable": "the card is not a fleet main card in allocated mode", "insufficient_balance": "the card giving the money does not hold enough", "validation_failed": "a zero or too large amount, a card that is not a sub-card of this main card, or a request_id over 64 characters"},
    )
}

# ---------------------------------------------------------------- POS
sale_refusals = [
    "card_not_found", "authorization_not_found", "idempotency_conflict",
    "validation_failed", "amount_out_of_range", "unknown_product", "unknown_station",
    "payment_mismatch", "card_frozen", "card_lost", "card_cancelled", "card_replaced",
    "limit_exceeded", "pin_required", "pin_incorrect", "coupon_invalid",
    "coupon_not_applicable",
    "no_credit_account", "authorization_exceeded", "authorization_closed",
    "insufficient_balance", "credit_limit_exceeded", "pin_locked",
]
paths["/api/v1/pos/quotes"] = {
    "post": op(
        "quoteSale", "pos", "Price a sale for this customer now, changing nothing", POS,
        ok(200, ref("Quote"), "What the sale would cost."),
        POS_AUTH + BODY_ERRORS + ["card_not_found", "validation_failed", "amount_out_of_range", "unknown_product", "unknown_station", "coupon_invalid", "coupon_not_applicable"],
        desc=("The same body as a sale; `pos_txn_id`, `payments`, `authorization_id`, "
              "`plate` and `odometer_km` are ignored, and no card state, PIN or limit is "
              "checked. Lines, tier discount, discount coupons (`coupons`) and points (with "
              "their reasons, `points_detail`) are computed by the same code as the sale's, "
              "on the same rules; the discount coupons are checked but not redeemed. "
              "`coupons_available` lists the member's other coupons usable now." + TOKEN_NOTE),
        body=ref("SaleRequest"),
        notes={
            **pos_notes,
            "card_not_found": "customer.card_no names no card",
            "coupon_invalid": "a coupon in `coupons` is unknown, used, expired, not yet valid, not this customer's, a voucher (a `coupon` payment's kind), or named twice",
            "coupon_not_applicable": "a coupon in `coupons` takes nothing off this sale (nothing it applies to, or below its minimum amount); the message says which and why",
        },
    )
}
paths["/api/v1/pos/sales"] = {
    "post": op(
        "postSale", "pos", "Record a sale (fuel and non-fuel lines, several payments)", POS,
        {
            "200": {"description": "A repeat of an earlier request with the same `pos_txn_id` and body: the first answer, unchanged; nothing changes.", "content": json_body(ref("Sale"))},
            "201": {"description": "Recorded.", "content": json_body(ref("Sale"))},
        },
        POS_AUTH + BODY_ERRORS + sale_refusals,
        desc=(IDEMPOTENCY + "." + PIN_NOTE + " Payments must add up to the net amount "
              "(422 payment_mismatch). Card payments are checked for card state, PIN, "
              "card rules (hard: 422 limit_exceeded; soft: recorded in `flags`) and "
              "balance (402 insufficient_balance); credit payments against the credit "
              "limit (402 credit_limit_exceeded). Discount coupons named in `coupons` are "
              "applied after the tier discount and redeemed with the sale, once each even "
              "under concurrent sales. A member earns points by the rules in force, "
              "explained in `points_detail`; a sale that makes the member's figures reach a "
              "higher tier moves the member up at once (`tier_after`), and a referred "
              "member's first qualifying sale gives the referral rewards." + TOKEN_NOTE),
        body=ref("SaleRequest"),
        notes={
            **pos_notes,
            "coupon_invalid": "a coupon in `coupons` or a coupon payment is unknown, used (also by a concurrent sale), expired, not yet valid or not this customer's; a voucher named in `coupons`; a coupon named twice; or a coupon payment larger than the voucher",
            "coupon_not_applicable": "a coupon in `coupons` takes nothing off this sale (nothing it applies to, or below its minimum amount); the message says which and why",
            "validation_failed": "a field is missing, malformed or out of range (e.g. pos_txn_id absent or empty, a bad occurred_at, a card payment without a card, a credit payment without an identified customer or without that customer's card as customer.card_no, an authorization_id of another card or station); the message names it",
            "card_not_found": "customer.card_no or a payment's card_no names no card",
            "authorization_not_found": "authorization_id names no pump authorisation",
        },
    )
}
paths["/api/v1/pos/recharges"] = {
    "post": op(
        "postRecharge", "pos", "Recharge (top up) a card", POS,
        {
            "200": {"description": "A repeat with the same `pos_txn_id` and body: the first answer; nothing changes.", "content": json_body(ref("Recharge"))},
            "201": {"description": "Recharged.", "content": json_body(ref("Recharge"))},
        },
        POS_AUTH + BODY_ERRORS + ["card_not_found", "idempotency_conflict", "validation_failed", "amount_out_of_range", "unknown_station", "payment_mismatch", "card_not_usable", "face_value_cap"] + CARD_STATE_ERRS,
        desc=(IDEMPOTENCY + ". Payments (cash, wechat, alipay, bank_card) must add up to "
              "`amount_fen` (422 payment_mismatch). The best recharge promotion in force "
              "adds its bonus. The card must be active and stay within its face-value cap; "
              "a pooled sub-card is refused (recharge its main card)." + TOKEN_NOTE),
        body=ref("RechargeRequest"),
        notes={**pos_notes, "card_not_usable": "a sub-card that spends its main card's pooled balance"},
    )
}
paths["/api/v1/pos/refunds"] = {
    "post": op(
        "postRefund", "pos", "Refund a sale, wholly or by line", POS,
        {
            "200": {"description": "A repeat with the same `pos_txn_id` and body: the first answer; nothing changes.", "content": json_body(ref("Refund"))},
            "201": {"description": "Refunded.", "content": json_body(ref("Refund"))},
        },
        POS_AUTH + BODY_ERRORS + ["sale_not_found", "idempotency_conflict", "validation_failed", "unknown_station", "refund_exceeds_sale"],
        desc=(IDEMPOTENCY + ". The money goes back to the sale's payments in proportion "
              "to what is left of each; points come back in proportion (those already "
              "spent are reported as `points_shortfall`). Several partial refunds may "
              "follow one another up to the sale's amount. When nothing of the sale is left "
              "the discount coupons it redeemed are given back to the member (usable "
              "again)." + TOKEN_NOTE),
        body=ref("RefundRequest"),
        notes={**pos_notes, "sale_not_found": "no sale with this id at this station", "validation_failed": "a bad pos_txn_id or occurred_at, a line the sale does not have, or a non-positive amount", "refund_exceeds_sale": "more than what is left of a line (or a line named twice), or nothing left to refund"},
    )
}
paths["/api/v1/pos/authorizations"] = {
    "post": op(
        "authorizePump", "pos", "Hold money on a card before the pump runs", POS,
        {
            "200": {"description": "A repeat with the same `pos_txn_id` and body: the first answer; nothing changes.", "content": json_body(ref("Authorization"))},
            "201": {"description": "Held.", "content": json_body(ref("Authorization"))},
        },
        POS_AUTH + BODY_ERRORS + ["card_not_found", "idempotency_conflict", "validation_failed", "unknown_station", "card_frozen", "card_lost", "card_cancelled", "card_replaced", "limit_exceeded", "pin_required", "pin_incorrect", "insufficient_balance", "pin_locked"],
        desc=(IDEMPOTENCY + "." + PIN_NOTE + " Checks the card's state, PIN and the rules "
              "that do not depend on the amount, then holds up to `max_amount_fen`, lowered "
              "to the available balance and to what the hard amount limits leave. The sale "
              "that follows names `authorization_id` and captures up to the held amount, "
              "releasing the rest; POST …/void releases it; an uncaptured hold expires "
              "(30 minutes by default)." + TOKEN_NOTE),
        body=ref("AuthorizationRequest"),
        notes={**pos_notes, "insufficient_balance": "the card holds no money", "limit_exceeded": "a hard card rule declines the card here, or its amount limits leave nothing to hold"},
    )
}
paths["/api/v1/pos/authorizations/{id}/void"] = {
    "parameters": [path_param("id", "The authorisation id.", s(format="uuid"))],
    "post": op(
        "voidAuthorization", "pos", "Release a pump authorisation", POS,
        ok(200, obj({"authorization_id": s(format="uuid"), "state": s("voided, or expired if the hold had already expired.", enum=["voided", "expired"])}, required=["authorization_id", "state"]), "Released (repeating the call answers the same)."),
        ["unauthorized", "forbidden", "authorization_not_found", "authorization_closed"],
        desc="Releases a pending hold of this station's POS. Voiding a hold that is already voided or expired answers 200 with its state; one captured by a sale answers 422 authorization_closed." + TOKEN_NOTE.replace("; a `station_code` of another station: 403 wrong_station", ""),
        notes={**pos_notes, "authorization_not_found": "no pump authorisation with this id at this station", "authorization_closed": "the authorisation was captured by a sale"},
    )
}

# ---------------------------------------------------------------- loyalty (loyalty_api.rs)
LOYALTY_AUDITED = " Audited."
paths["/api/v1/loyalty/rules"] = {
    "get": op(
        "listPointsRules", "loyalty", "List the points rules and lint the rules in force", STAFF,
        ok(200, obj({
            "rules": arr(ref("StoredRule"), "The newest version of every rule, active or not, by kind and rule id."),
            "lint": arr(s(), "What is wrong with the rules in force (the active ones), one finding a line: rules that can never fire, overlapping bonus rules, unknown products; empty when sound."),
        }, required=["rules", "lint"]), "The rules."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    ),
    "post": op(
        "savePointsRule", "loyalty", "Add a points rule, or a new version of one", STAFF,
        {
            "200": {"description": "`dry_run: true`: the rule was linted and nothing was stored.", "content": json_body(obj({
                "rule_id": s("The rule's id; without a `rule_id` in the request, a fresh id that is not kept."),
                "warnings": arr(s()),
            }, required=["rule_id", "warnings"]))},
            "201": {"description": "Stored as a new version.", "content": json_body(obj({
                "rule_id": s(),
                "version": i64("The new version: 1 for a new rule.", minimum=1),
                "warnings": arr(s(), "Findings of the lint about the set as it is now that name this rule (e.g. overlaps with other bonus rules, milestones that give nothing), and `more than one earn rule without products`."),
            }, required=["rule_id", "version", "warnings"]))},
        },
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "rule_never_fires"],
        desc=(roles("ManagePromotions") + " Rules are versioned: sending an existing "
              "`rule_id` adds a version, and the newest version of each rule is in force "
              "while it is active (`active: false` retires it); sales record the rule and "
              "version behind every point. `rule` must parse as the `kind`'s shape "
              "(EarnRule, BonusRule or MilestoneRule), else 422 validation_failed. The rule "
              "is linted on its own and with the rules in force: one that can never give "
              "points (an empty list of weekdays, products, stations or tags, weekdays "
              "outside 1–7, an empty or impossible hours window, a period that ends before "
              "it starts, a cap or bonus of zero or less, an unknown product, a negative "
              "rate) is refused with 422 rule_never_fires (the message lists why); other "
              "findings come back as `warnings`. With `dry_run: true` nothing is stored. "
              "Takes effect on this server at once, on others within seconds." + LOYALTY_AUDITED),
        body=obj({
            "rule_id": s("1 to 64 letters, digits, `-` or `_` (trimmed); `tier` and `referral` are reserved. Absent: a new rule with a new id.", minLength=1, maxLength=64, pattern="^[A-Za-z0-9_-]+$"),
            "kind": s(enum=RULE_KINDS),
            "name": s("1 to 100 characters (trimmed).", minLength=1, maxLength=100),
            "active": {"type": "boolean", "default": True, "description": "false: store the version retired (not in force)."},
            "rule": {
                "anyOf": [ref("EarnRule"), ref("BonusRule"), ref("MilestoneRule")],
                "description": "A JSON object of the `kind`'s shape: EarnRule for earn, BonusRule for bonus, MilestoneRule for milestone. Unknown fields are ignored; `id` and `version` are set by the server.",
            },
            "dry_run": {"type": "boolean", "default": False, "description": "Only lint; store nothing."},
        }, required=["kind", "name", "rule"]),
        notes={
            **staff_notes,
            "validation_failed": "a name or rule_id out of range, a reserved rule_id, a kind other than earn, bonus or milestone, or a `rule` that is not an object of the kind's shape; the message names it",
            "rule_never_fires": "the rule can never give points; the message lists why",
        },
    ),
}
paths["/api/v1/loyalty/rules/{id}"] = {
    "parameters": [path_param("id", "The rule's id.")],
    "get": op(
        "getPointsRule", "loyalty", "Every version of a points rule", STAFF,
        ok(200, obj({"rule_id": s(), "versions": arr(ref("StoredRule"), "Newest first.", minItems=1)}, required=["rule_id", "versions"]), "The rule's versions."),
        STAFF_AUTH + ["loyalty_not_found"],
        desc=roles("ViewNetwork"),
        notes={**staff_notes, "loyalty_not_found": "no rule with this id"},
    )
}
paths["/api/v1/loyalty/settings"] = {
    "get": op(
        "getLoyaltySettings", "loyalty", "The loyalty settings: points expiry, tier qualification, referral rewards", STAFF,
        ok(200, obj({
            "expiry": ref("ExpiryPolicy"),
            "tiers": ref("Qualification"),
            "referral": ref("Referral"),
        }, required=["expiry", "tiers", "referral"]), "The settings in force."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    )
}
paths["/api/v1/loyalty/settings/{key}"] = {
    "parameters": [path_param("key", "Which setting; any other value answers 404 loyalty_not_found.", s(enum=["expiry", "tiers", "referral"]))],
    "put": op(
        "putLoyaltySetting", "loyalty", "Replace a loyalty setting", STAFF,
        ok(200, obj({
            "key": s(enum=["expiry", "tiers", "referral"]),
            "value": {"anyOf": [ref("ExpiryPolicy"), ref("Qualification"), ref("Referral")], "description": "The setting as stored."},
        }, required=["key", "value"]), "Stored."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "loyalty_not_found"],
        desc=(roles("ManagePromotions") + " The body is the whole setting: an ExpiryPolicy "
              "for `expiry`, a Qualification for `tiers`, a Referral for `referral`. A new "
              "expiry policy applies to every lot at the next daily run; a new qualification "
              "at the next sale or run. Takes effect on this server at once, on others within "
              "seconds." + LOYALTY_AUDITED),
        body={
            "anyOf": [ref("ExpiryPolicy"), ref("Qualification"), ref("Referral")],
            "description": "By `key`: expiry → ExpiryPolicy, tiers → Qualification, referral → Referral.",
        },
        notes={
            **staff_notes,
            "validation_failed": "the body is not of the key's shape, a fixed_clearing policy without clearing days or with a day that is not a real date, window_days outside 1–3660 or grace_days over 3660, or a negative referral value; the message names it",
            "loyalty_not_found": "`key` is not expiry, tiers or referral",
        },
    )
}
tier_code_param = path_param("code", "The tier's code: 1 to 32 letters, digits or `_` (else 422 validation_failed).", s(minLength=1, maxLength=32, pattern="^[A-Za-z0-9_]+$"))
paths["/api/v1/tiers/{code}"] = {
    "parameters": [tier_code_param],
    "put": op(
        "putTier", "loyalty", "Create or change a membership tier", STAFF,
        ok(200, ref("Tier"), "The tier as stored (created or changed)."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "conflict"],
        desc=(roles("ManagePromotions") + " The body replaces the whole tier; omitted "
              "fields take their defaults. Members move to a new threshold at their next "
              "sale (up) or the next daily run (up, or down after the grace period)."
              + LOYALTY_AUDITED),
        body=obj({
            "name": s("1 to 40 characters (trimmed).", minLength=1, maxLength=40),
            "rank": i64("0 to 100; higher is better; unique among tiers.", minimum=0, maximum=100),
            "discount_fen_per_litre": fen("Discount on fuel, 0 to 500 fen per litre.", minimum=0, maximum=500, default=0),
            "points_multiplier_permille": i64("Points multiplier on the base points, 0 to 10000 ‰ (1000 = ×1).", minimum=0, maximum=10000, default=1000),
            "qualify_spend_fen": fen("Spend threshold, fen (metric spend).", minimum=0, default=0),
            "qualify_litres_ml": i64("Fuel threshold, millilitres (metric litres).", minimum=0, default=0),
            "qualify_visits": i64("Visits threshold (metric visits).", minimum=0, default=0),
            "monthly_car_washes": i64("Free car washes a month, 0 to 31.", minimum=0, maximum=31, default=0),
        }, required=["name", "rank"]),
        notes={**staff_notes, "validation_failed": "a code, name or value out of range; the message names it", "conflict": "another tier has this rank"},
    )
}
paths["/api/v1/loyalty/coupon-templates"] = {
    "get": op(
        "listCouponTemplates", "loyalty", "List coupon templates", STAFF,
        ok(200, obj({"templates": arr(ref("CouponTemplate"), "Oldest first.")}, required=["templates"]), "The templates."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    ),
    "post": op(
        "createCouponTemplate", "loyalty", "Create a coupon template", STAFF,
        ok(201, ref("CouponTemplate"), "Created, active."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "unknown_product"],
        desc=(roles("ManagePromotions") + " Coupons issued from the template "
              "(POST /api/v1/loyalty/coupons, catalogue redemptions) are named in a sale's "
              "`coupons` and applied after the tier discount, in the order named."),
        body=obj({
            "name": s("1 to 100 characters (trimmed).", minLength=1, maxLength=100),
            "kind": s(enum=COUPON_KINDS),
            "value": i64("amount_off: 1 to 10000000 fen; per_litre_off: 1 to 500 fen per litre; percent_off_non_fuel: 1 to 100 percent; free_car_wash: 1.", minimum=1, maximum=10000000),
            "min_amount_fen": fen("What the coupon applies to must come to at least this.", minimum=0, default=0),
            "products": arr(s(), "Product codes it applies to (each must exist, else 422 unknown_product); empty: every line its kind fits.", default=[]),
            "valid_days": i64("A coupon is valid for this many days from its `valid_from`, 1 to 3660.", minimum=1, maximum=3660),
        }, required=["name", "kind", "value", "valid_days"]),
        notes={**staff_notes, "validation_failed": "a name out of range, an unknown kind, a value out of the kind's range, a negative min_amount_fen or valid_days outside 1–3660; the message names it", "unknown_product": "`products` names a product code that does not exist"},
    ),
}
paths["/api/v1/loyalty/coupons"] = {
    "post": op(
        "issueTemplateCoupons", "loyalty", "Issue coupons of a template: to a member, to a segment (tag), or as a public code", STAFF,
        ok(201, obj({
            "issued": i64("How many coupons were issued."),
            "coupons": arr(obj({
                "code": s("A generated code is 12 characters from A–Z and 2–9 without I and O."),
                "customer_id": nullable(s("The member it belongs to; null for a public code.", format="uuid")),
            }, required=["code", "customer_id"])),
        }, required=["issued", "coupons"]), "Issued (possibly none, for a tag no member has)."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "loyalty_not_found", "customer_not_found", "conflict"],
        desc=(roles("ManagePromotions") + " Send exactly one of `customer_id` (one coupon "
              "for that member, who must be in the caller's scope), `tag` (one coupon for "
              "every member with that tag who is not anonymised, whatever the caller's "
              "scope) or `code` (a public coupon with this code that anyone may present, "
              "once). Each coupon is valid from `valid_from` for the template's "
              "`valid_days`." + LOYALTY_AUDITED),
        body=obj({
            "template_id": s("An active template."),
            "customer_id": s(format="uuid"),
            "tag": s("A customer tag (a segment)."),
            "code": s("4 to 32 letters or digits (trimmed, upper-cased).", minLength=4, maxLength=32),
            "valid_from": time("RFC 3339, not more than a day in the future and not before 2000; default now."),
        }, required=["template_id"]),
        notes={
            "forbidden": forbidden_scope("a customer"),
            "validation_failed": "not exactly one of customer_id, tag and code, a malformed code, or a bad valid_from; the message names it",
            "loyalty_not_found": "no active template with this id",
            "customer_not_found": "customer_id names no customer",
            "conflict": "a coupon with this `code` exists",
        },
    )
}
paths["/api/v1/loyalty/catalogue"] = {
    "get": op(
        "listCatalogue", "loyalty", "List the points catalogue", STAFF,
        ok(200, obj({"items": arr(ref("CatalogueItem"), "Active or not, by points cost and name.")}, required=["items"]), "The catalogue."),
        STAFF_AUTH, desc=roles("ViewNetwork"), notes=staff_notes,
    ),
    "post": op(
        "createCatalogueItem", "loyalty", "Add an item to the points catalogue", STAFF,
        ok(201, ref("CatalogueItem"), "Created, active."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed", "loyalty_not_found"],
        desc=roles("ManagePromotions") + " A gift has no template; a coupon or car_wash item names the coupon template whose coupon a redemption issues (a car_wash item a free_car_wash template).",
        body=obj({
            "name": s("1 to 100 characters (trimmed).", minLength=1, maxLength=100),
            "kind": s(enum=CATALOGUE_KINDS),
            "points_cost": i64("1 to 100000000.", minimum=1, maximum=100000000),
            "stock": nullable(i64("0 or more; absent or null: unlimited.", minimum=0)),
            "template_id": nullable(s("Required for coupon and car_wash items, not allowed for gifts.")),
        }, required=["name", "kind", "points_cost"]),
        notes={**staff_notes, "validation_failed": "a name or points_cost out of range, a negative stock, a kind other than gift, coupon or car_wash, a gift with a template or a coupon or car_wash item without one, or a car_wash item whose template is not free_car_wash; the message names it", "loyalty_not_found": "template_id names no coupon template"},
    ),
}
paths["/api/v1/loyalty/run"] = {
    "post": op(
        "runLoyaltyDay", "loyalty", "Run the daily loyalty job: points expiry, tier review, monthly car washes", STAFF,
        ok(200, ref("LoyaltyRunReport"), "Done."),
        STAFF_AUTH + BODY_ERRORS + ["validation_failed"],
        desc=(roles("ManagePromotions") + " For the day: lapses the points the expiry "
              "policy says have lapsed by its end (one `points_expire` journal per member "
              "and day); reviews every member's tier over the qualification window ending "
              "with the day (up at once; below the tier: the grace period starts, and the "
              "member moves down when it has ended; members held at a tier by hand are left "
              "alone); issues the month's free car-wash coupons of the tiers that give them "
              "(template `tier-car-wash`, once per member and month). Idempotent: running it "
              "again for the same day changes nothing more. The body is required (`{}` for "
              "today)." + LOYALTY_AUDITED),
        body=obj({"date": s("The local day (China Standard Time) to run for, YYYY-MM-DD; default today.", format="date")}),
        notes={**staff_notes, "validation_failed": "`date` is not YYYY-MM-DD"},
    )
}
paths["/api/v1/customers/{id}/points"] = {
    "parameters": [cust_param],
    "get": op(
        "getCustomerPoints", "loyalty", "A member's points: balance, lots and their expiry, history with reasons, redemptions", STAFF,
        ok(200, obj({
            "customer_id": s(format="uuid"),
            "balance": i64("Points available now."),
            "tier_code": s("The member's tier now."),
            "lots": arr(obj({
                "earned_on": s("The local day the lot was earned, YYYY-MM-DD.", format="date"),
                "points": i64("Earned that day."),
                "remaining": i64("Left of it."),
                "expires_after": nullable(s("The last day the lot is good for under the expiry policy in force; null: never lapses.", format="date")),
            }, required=["earned_on", "points", "remaining", "expires_after"]), "Lots with points left, oldest first (spent first)."),
            "history": arr(obj({
                "occurred_at": time(),
                "kind": s("The journal's kind, e.g. sale, refund, adjustment, points_redeem, points_return (a cancelled redemption), points_expire."),
                "points": i64("Positive: credited to the member; negative: taken."),
                "memo": nullable(s()),
                "sale_id": nullable(s("The sale whose journal this is.", format="uuid")),
                "reasons": arr(ref("PointsLine"), "For a sale's journal, the sale's points lines; empty for other movements."),
            }, required=["occurred_at", "kind", "points", "memo", "sale_id", "reasons"]), "The 200 newest movements of the member's points, newest first."),
            "redemptions": arr(ref("Redemption"), "Newest first."),
        }, required=["customer_id", "balance", "tier_code", "lots", "history", "redemptions"]), "The member's points."),
        STAFF_AUTH + ["customer_not_found"],
        desc=roles("ViewCustomer") + CUSTOMER_SCOPE,
        notes=customer_scope_notes,
    )
}
paths["/api/v1/customers/{id}/coupons"] = {
    "parameters": [cust_param],
    "get": op(
        "listCustomerCoupons", "loyalty", "A member's coupons", STAFF,
        ok(200, obj({"coupons": arr(ref("MemberCoupon"), "Every coupon issued to the member (discount coupons and vouchers, in any state), newest first.")}, required=["coupons"]), "The coupons."),
        STAFF_AUTH + ["customer_not_found"],
        desc=roles("ViewCustomer") + CUSTOMER_SCOPE,
        notes=customer_scope_notes,
    )
}
paths["/api/v1/customers/{id}/tier"] = {
    "parameters": [cust_param],
    "post": op(
        "setTierOverride", "loyalty", "Hold a member at a tier by hand, or lift the hold", STAFF,
        ok(200, obj({
            "customer_id": s(format="uuid"),
            "tier_code": s("The member's tier now."),
            "override": nullable(s("The tier the member is held at; null when the hold was lifted.")),
        }, required=["customer_id", "tier_code", "override"]), "Done."),
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed", "loyalty_not_found"],
        desc=(roles("ManagePromotions") + " With a `tier_code` the member moves to that tier "
              "and stays there (sales and the daily run leave it alone) until the hold is "
              "lifted with `tier_code: null`; the member then keeps the tier until the next "
              "review." + CUSTOMER_SCOPE + LOYALTY_AUDITED),
        body=obj({
            "tier_code": nullable(s("The tier to hold the member at; null or absent lifts the hold.")),
            "reason": s("Why: 1 to 200 characters (trimmed).", minLength=1, maxLength=200),
        }, required=["reason"]),
        notes={**customer_scope_notes, "validation_failed": "a reason empty or over 200 characters", "loyalty_not_found": "`tier_code` names no tier"},
    )
}
paths["/api/v1/customers/{id}/redemptions"] = {
    "parameters": [cust_param],
    "post": op(
        "redeemPoints", "loyalty", "Spend a member's points on a catalogue item", STAFF,
        {
            "200": {"description": "A repeat with a `request_id` already used for this member: the first redemption as it is now; nothing changes.", "content": json_body(ref("Redemption"))},
            "201": {"description": "Redeemed.", "content": json_body(ref("Redemption"))},
        },
        STAFF_AUTH + BODY_ERRORS + ["customer_not_found", "validation_failed", "loyalty_not_found", "out_of_stock", "insufficient_points"],
        desc=(roles("Sell") + " Moves the item's points from the member to the ledger's "
              "redeemed points, taking them from the oldest lots first; takes one from the "
              "item's stock; a coupon or car_wash item issues the member a coupon of its "
              "template (`coupon_code`). Idempotent on `request_id` per member. If the "
              "member's points keep changing meanwhile the request answers 503 unavailable; "
              "retry." + CUSTOMER_SCOPE),
        body=obj({
            "item_id": s("An active catalogue item.", format="uuid"),
            "request_id": s("1 to 64 bytes; makes a retried request redeem once (per member).", minLength=1, maxLength=64),
        }, required=["item_id", "request_id"]),
        notes={
            **customer_scope_notes,
            "validation_failed": "`request_id` empty or over 64 bytes",
            "loyalty_not_found": "no active catalogue item with this id",
            "out_of_stock": "the item's stock is used up",
            "insufficient_points": "the member's available points are fewer than the item costs",
        },
    )
}
paths["/api/v1/redemptions/{id}/cancel"] = {
    "parameters": [path_param("id", "The redemption's id.", s(format="uuid"))],
    "post": op(
        "cancelRedemption", "loyalty", "Cancel a redemption: points back to their lots, the item back to stock", STAFF,
        ok(200, ref("Redemption"), "Cancelled (`state: cancelled`)."),
        STAFF_AUTH + ["loyalty_not_found", "conflict"],
        desc=(roles("ApproveAdjustment") + " Posts the points back to the member "
              "(`points_return`), into the lots they were taken from, returns the item to "
              "stock (if its stock is counted) and voids the "
              "coupon the redemption issued, which must be unused. No body. Not limited by "
              "the caller's scope." + LOYALTY_AUDITED),
        notes={
            **staff_notes,
            "loyalty_not_found": "no redemption with this id",
            "conflict": "the redemption is already cancelled, or the coupon it issued was used",
        },
    )
}

# ---------------------------------------------------------------- analytics
paths["/api/v1/analytics/{view}"] = {
    "parameters": [path_param("view", "rfm, abc, lifecycle, refuel, 5s, clv, churn (risk scores and the model's AUC against recency), forecast (14 days per station and grade, MASE against seasonal naive), reports (sales by a dimension, member share, cohort retention) or price (price sensitivity).", s(enum=["rfm", "abc", "lifecycle", "refuel", "5s", "clv", "churn", "forecast", "reports", "price"]))],
    "get": op(
        "analyticsView", "analytics", "An analysis of every member's sales (live data)", STAFF,
        ok(200, obj({
            "view": s(), "as_of": s("The day the analysis looks from.", format="date"),
            "customers_total": i64("Members analysed (including those who never bought)."),
            "offset": i64(),
            "rows": arr(obj({"customer": s("The customer's id.")}, additional=True), "One row per member, as `forecourt analytics VIEW --format json` prints them; `limit` rows from `offset`."),
            "segments": arr(obj({"segment": s(), "customers": i64()}), "rfm: members per named segment."),
            "classes": arr(obj({}, additional=True), "abc: members and contribution per class (A up to 55 %, B to 85 %)."),
            "curve": arr(obj({}, additional=True), "abc: the cumulative contribution curve."),
            "bgnbd": obj({}, additional=True, desc="clv: fitted r, alpha, a, b and the log-likelihood."),
            "gamma_gamma": obj({}, additional=True, desc="clv: fitted p, q, gamma."),
            "calibration_end": s("clv: the last day of the calibration period.", format="date"),
            "evaluation": obj({}, additional=True, desc="churn: AUC of the model and of recency alone on the held-out period; forecast: MASE of the model and of seasonal naive on the last 14 days."),
            "member_share": obj({}, additional=True, desc="reports: members against walk-ins."),
            "cohorts": arr(obj({}, additional=True), "reports: retention by month of first purchase."),
            "rises": arr(s(format="date"), "price: the days the product's price rose."),
        }, required=["view", "customers_total", "rows"]), "The analysis; methods and parameters in docs/analytics.md."),
        STAFF_AUTH + ["not_found", "validation_failed"],
        desc=roles("ViewAnalytics") + " Network-wide figures over the members' sales (net of refunds, by local day in China Standard Time), computed on request.",
        params=[
            query_param("as_of", "YYYY-MM-DD; default the last day with a sale."),
            query_param("offset", "First row (default 0).", schema=i64(minimum=0)),
            query_param("limit", "Rows (default 100, at most 1000).", schema=i64(minimum=0, maximum=1000)),
            query_param("calibration_end", "clv: YYYY-MM-DD; default 90 days before as_of."),
            query_param("period", "clv: day or week (default).", schema=s(enum=["day", "week"])),
            query_param("horizon", "clv: periods ahead, 1 to 520 (default 52).", schema=i64(minimum=1, maximum=520)),
            query_param("by", "reports: station (default), region, product, day, hour or payment.", schema=s(enum=["station", "region", "product", "day", "hour", "payment"])),
            query_param("product", "price: the product whose price rises are looked for (default GASOLINE_92)."),
        ],
        notes={**staff_notes, "not_found": "no such analysis"},
    )
}

# ---------------------------------------------------------------- ops
paths["/api/v1/ledger/check"] = {
    "get": op(
        "checkLedger", "ops", "Check the ledger (as `forecourt check`)", STAFF,
        ok(200, ref("LedgerCheck"), "The check's report; `clean` is false when a problem was found."),
        STAFF_AUTH,
        desc=roles("RunCheck") + " Recomputes every cached balance from the transfers and checks every invariant, for monitoring. Reads only.",
        notes=staff_notes,
    )
}
paths["/api/v1/openapi.json"] = {
    "get": {
        "operationId": "getOpenApi",
        "tags": ["ops"],
        "summary": "This OpenAPI document",
        "security": NONE,
        "responses": {"200": {"description": "The OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }
}
paths["/healthz"] = {
    "get": {
        "operationId": "getHealth",
        "tags": ["ops"],
        "summary": "Health check (database reachable)",
        "security": NONE,
        "responses": {
            "200": {"description": "Healthy.", "content": json_body(obj({
                "status": s(enum=["ok"]),
                "schema_version": i64("The newest applied database migration."),
                "database": s(enum=["SQLite", "PostgreSQL"]),
            }, required=["status", "schema_version", "database"]))},
            "503": {"description": "The database cannot be reached.", "content": json_body(obj({"status": s(enum=["unavailable"])}, required=["status"]))},
        },
    }
}
paths["/metrics"] = {
    "get": {
        "operationId": "getMetrics",
        "tags": ["ops"],
        "summary": "Prometheus metrics",
        "description": "Prometheus text format: `forecourt_http_requests_total{class}`, `forecourt_pos_requests_total{kind,outcome}` and the histogram `forecourt_pos_latency_seconds{kind}` for sales, recharges and refunds.",
        "security": NONE,
        "responses": {"200": {"description": "Metrics.", "content": {"text/plain; version=0.0.4": {"schema": s()}}}},
    }
}

finish(paths)

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "Forecourt API",
        "version": "0.1.0",
        "summary": "Fuel-station CRM and fuel-card platform: staff API and POS API.",
        "description": (
            "Forecourt's HTTP API. The staff and POS calls live under `/api/v1`; "
            "`/healthz` and `/metrics` are at the root.\n\n"
            "**Units.** Money is an integer number of fen (1 CNY = 100 fen, int64), never "
            "a decimal. Volumes are integer millilitres (`volume_ml`); EV energy is in "
            "watt-hours (`quantity`). Times are RFC 3339 strings; the server answers in "
            "UTC (`2026-11-20T00:30:00Z`) and accepts any offset. Business days and "
            "months (card limits, usage) follow the station's time zone.\n\n"
            "**Authentication.** `Authorization: Bearer <token>`. Staff get a token "
            "(`fcs_…`) from `POST /api/v1/auth/login`, which also sets it as the "
            "console's session cookie `fc_session` (`HttpOnly`, `SameSite=Strict`) and "
            "returns a `csrf_token`. A request authenticated by the cookie (no "
            "bearer token) with a method other than GET, HEAD or OPTIONS must "
            "send the header `X-CSRF-Token: <csrf_token>`, else 403 `forbidden`. A staff "
            "session ends 12 hours after login, after 30 minutes unused, or at logout. "
            "Each station's POS has a token (`fcp_…`, created with `forecourt pos-token "
            "create`); the POS calls also take a staff user whose role may sell (" + ROLE_TEXT["Sell"] + ") "
            "and whose scope is one station, acting as that station's POS. A missing, "
            "unknown, expired or revoked token answers 401 `unauthorized`; a caller of "
            "the wrong kind answers 403 `forbidden`; a POS naming another station's "
            "`station_code` answers 403 `wrong_station`. Sign-in attempts are limited "
            "per client address and customer lookups per user (429 `rate_limited`).\n\n"
            "**Roles.** Staff rights follow the role (admin, region_manager, "
            "station_manager, account_manager, cashier, analyst); each operation lists "
            "the roles that may call it (403 `forbidden` for the others). Personal data "
            "is shown unmasked only to roles that may see it (" + ROLE_TEXT["SeePersonalData"] + ") "
            "and only for customers in the user's scope (card numbers follow the role "
            "alone); ID numbers are always masked except in the export.\n\n"
            "**Scope.** Each staff user also has a data scope: `company` (everywhere), "
            "`region:CODE` (the region's stations), `station:CODE` (one station) or "
            "`own` (the customers whose `account_manager_id` is the user; no station). A "
            "customer is in a region's or station's scope through its home station; a "
            "card through its customer, or an anonymous card through the station that "
            "issued it. Acting on a customer, card or station outside the scope answers "
            "403 `forbidden`: a new customer's home station, vehicles, the credit "
            "agreement, credit payments and statements, consents, export and "
            "anonymisation, adjustments (asking and deciding), issuing and managing "
            "cards, and setting a station's prices. Reading a profile or searching is not "
            "refused, but the personal data of customers outside the scope comes back "
            "masked; reading cards, prices, the adjustment list and the audit log is not "
            "limited by scope.\n\n"
            "**Errors.** Every error is `{\"error\": {\"code\", \"message\"}}` (schema "
            "`Error`, which lists every code and its status). Besides the responses "
            "listed per operation, any `/api/v1` route answers 405 "
            "`method_not_allowed` to a method it does not take, and an unknown path "
            "answers 404 `not_found`. Request bodies are JSON "
            "(`Content-Type: application/json`, else 415 `unsupported_media_type`) of "
            "at most 256 KiB (else 413 `payload_too_large`); malformed JSON or a "
            "missing required field answers 400 `invalid_json`.\n\n"
            "**POS writes** (sales, recharges, refunds, authorisations) are idempotent "
            "on `pos_txn_id` per station: the first answer is 201; a repeat with the "
            "same body answers 200 with the same body and changes nothing; the same "
            "key with a different body answers 409 `idempotency_conflict`. A refused "
            "request changes nothing (except that a wrong PIN is counted)."
        ),
    },
    "tags": [
        {"name": "auth", "description": "Staff sign-in."},
        {"name": "users", "description": "Staff accounts."},
        {"name": "network", "description": "Stations, prices, products, tiers, promotions and coupons."},
        {"name": "customers", "description": "Customers (members), their vehicles and credit (agreement, payments received, statements)."},
        {"name": "adjustments", "description": "Manual adjustments of card balances and points, under maker-checker (one person asks, another approves)."},
        {"name": "cards", "description": "Fuel cards: issue, state, limits, PIN, fleet allocation."},
        {"name": "privacy", "description": "Personal data rights under PIPL (export, anonymisation, consent) and the audit log."},
        {"name": "analytics", "description": "Analyses of the members' sales on live data: RFM, ABC, lifecycle, refuel cycle, 5S and CLV (BG/NBD and Gamma-Gamma)."},
        {"name": "loyalty", "description": "The loyalty engine: versioned points rules, settings (points expiry, tier qualification, referral rewards), tiers and tier holds, coupon templates and issuance, the points catalogue and redemptions, a member's points with the reason of every line, and the daily run."},
        {"name": "pos", "description": "Calls from the station's POS (till or forecourt controller), with the station's POS token or as a staff user of one station who may sell."},
        {"name": "ops", "description": "Health, metrics, the ledger check and this document."},
    ],
    "paths": paths,
    "components": {
        "securitySchemes": {
            "staffToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "fcs_<64 hex>",
                "description": "A staff session token from POST /api/v1/auth/login; the session ends 12 hours after login or after 30 minutes unused (by default), or when revoked by POST /api/v1/auth/logout. Wins over a session cookie sent alongside.",
            },
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": "fc_session",
                "description": "The console's staff session: the same token, set by POST /api/v1/auth/login (`HttpOnly`, `SameSite=Strict`, `Path=/`). Used only when no bearer token (`Authorization: Bearer …`) is sent. A request with a method other than GET, HEAD or OPTIONS must also send the header `X-CSRF-Token` with the login's `csrf_token`, else 403 forbidden.",
            },
            "posToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "fcp_<64 hex>",
                "description": "A station's POS token (`forecourt pos-token create --station CODE`); it acts for that station only.",
            },
        },
        "schemas": schemas,
        "responses": responses,
        "parameters": {
            "CsrfToken": {
                "name": "X-CSRF-Token",
                "in": "header",
                "required": False,
                "description": "The `csrf_token` returned by POST /api/v1/auth/login (64 hex digits). Required when the request is authenticated by the `fc_session` cookie (else 403 forbidden); not needed with a bearer token.",
                "schema": s(pattern="^[0-9a-fA-F]{64}$"),
            }
        },
    },
}

text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
open(OUT, "w", encoding="utf-8").write(text)
print(f"wrote {OUT}: {len(text)} bytes, {sum(len(v) - ('parameters' in v) for v in paths.values())} operations")
