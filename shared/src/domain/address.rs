//! Billing addresses as a customer sets them (`PUT /customer/address`): validated before any
//! Stripe call. Countries are ISO 3166-1 alpha-2 codes (upper case; lower case is accepted and
//! upper-cased).

use serde::{Deserialize, Serialize};

/// Longest field accepted (Stripe's own limits are of this order).
pub const MAX_FIELD_LEN: usize = 200;

/// The officially assigned ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 country code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
}

/// A validated address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// The field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct AddressError {
    pub field: &'static str,
    pub problem: &'static str,
}

/// An address as a client sent it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

impl AddressInput {
    /// The address, or the first field at fault. Empty optional fields count as absent.
    pub fn validate(&self) -> Result<Address, AddressError> {
        let text = |field: &'static str, value: &Option<String>| -> Result<Option<String>, AddressError> {
            let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            if value.chars().count() > MAX_FIELD_LEN {
                return Err(AddressError {
                    field,
                    problem: "is longer than 200 characters",
                });
            }
            if value.chars().any(char::is_control) {
                return Err(AddressError {
                    field,
                    problem: "contains control characters",
                });
            }
            Ok(Some(value.to_owned()))
        };
        let line1 = text("line1", &self.line1)?.ok_or(AddressError {
            field: "line1",
            problem: "is required",
        })?;
        let country = text("country", &self.country)?
            .ok_or(AddressError {
                field: "country",
                problem: "is required (ISO 3166-1 alpha-2, e.g. DE)",
            })?
            .to_ascii_uppercase();
        if !is_country(&country) {
            return Err(AddressError {
                field: "country",
                problem: "is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)",
            });
        }
        Ok(Address {
            line1,
            line2: text("line2", &self.line2)?,
            city: text("city", &self.city)?,
            state: text("state", &self.state)?,
            postal_code: text("postal_code", &self.postal_code)?,
            country,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_list_is_iso_3166_1() {
        assert_eq!(COUNTRIES.split(' ').count(), 249);
        for code in ["DE", "US", "GB", "JP", "SS", "CW"] {
            assert!(is_country(code), "{code}");
        }
        for code in ["UK", "EU", "XX", "de", "DEU", ""] {
            assert!(!is_country(code), "{code}");
        }
    }

    #[test]
    fn addresses_need_line1_and_a_country() {
        let input = AddressInput {
            line1: Some(" Unter den Linden 1 ".into()),
            city: Some("Berlin".into()),
            postal_code: Some("10117".into()),
            country: Some("de".into()),
            line2: Some(String::new()),
            ..AddressInput::default()
        };
        let address = input.validate().unwrap();
        assert_eq!(
            (address.line1.as_str(), address.country.as_str(), address.line2),
            ("Unter den Linden 1", "DE", None)
        );
        for (input, field) in [
            (
                AddressInput {
                    country: Some("DE".into()),
                    ..AddressInput::default()
                },
                "line1",
            ),
            (
                AddressInput {
                    line1: Some("x".into()),
                    ..AddressInput::default()
                },
                "country",
            ),
            (
                AddressInput {
                    line1: Some("x".into()),
                    country: Some("ZZ".into()),
                    ..AddressInput::default()
                },
                "country",
            ),
            (
                AddressInput {
                    line1: Some("x".into()),
                    country: Some("Germany".into()),
                    ..AddressInput::default()
                },
                "country",
            ),
            (
                AddressInput {
                    line1: Some("x\u{0}".into()),
                    country: Some("DE".into()),
                    ..AddressInput::default()
                },
                "line1",
            ),
            (
                AddressInput {
                    line1: Some("x".into()),
                    city: Some("y".repeat(201)),
                    country: Some("DE".into()),
                    ..AddressInput::default()
                },
                "city",
            ),
        ] {
            assert_eq!(input.validate().unwrap_err().field, field);
        }
    }
}
