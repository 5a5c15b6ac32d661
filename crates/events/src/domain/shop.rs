//! Shop: a marketplace connection (Etsy shop, Printify shop). Tokens never
//! enter the log: they live encrypted in Postgres; events only say that a
//! connection exists, when its token expires and when it was refreshed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::text::Note;
use super::{Actor, event_enum};
use crate::codec::EventCodec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Marketplace {
    Etsy,
    Printify,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShopConnected {
    pub marketplace: Marketplace,
    pub external_shop_id: String,
    pub display_name: String,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// What the shop's listings are drafted with when published straight
    /// to it (Etsy), as chosen when it was connected.
    #[serde(default)]
    pub listing_defaults: ListingDefaults,
    /// Where the shop's products are sold, as its marketplace names it
    /// (Printify: the shop's sales channel, `etsy`, `shopify`, or a custom
    /// integration's name). None where the marketplace is the storefront.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_channel: Option<String>,
}

/// The shop's own policies a listing published straight to it names:
/// Etsy asks a physical listing for its shipping profile, and takes a
/// return policy. Its first ones when it was connected, until the seller
/// chooses others; None where the shop had none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListingDefaults {
    pub shipping_profile_id: Option<u64>,
    pub return_policy_id: Option<u64>,
    /// The currency the shop sells in (listings priced in another are
    /// refused, not mispriced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Product type (lower case) → the shipping profile its listings ship
    /// with instead (a mug weighs more than a t-shirt).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shipping_profile_by_type: BTreeMap<String, u64>,
    /// The owner chose these (so no return policy means none, not "the
    /// shop had none").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chosen: bool,
}

impl ListingDefaults {
    /// The shipping profile a listing of `product_type` ships with.
    pub fn shipping_profile_for(&self, product_type: &str) -> Option<u64> {
        let wanted = product_type.trim().to_lowercase();
        self.shipping_profile_by_type.get(&wanted).copied().or(self.shipping_profile_id)
    }

    /// These defaults kept where the shop still has them, on a shop whose
    /// marketplace now lists `profiles` and `policies` (oldest first): a
    /// profile or policy gone since falls back to the first there is, a
    /// product type's own profile that is gone to the shop's.
    pub fn kept_on(&self, profiles: &[u64], policies: &[u64]) -> ListingDefaults {
        let still = |id: &Option<u64>, ids: &[u64]| id.filter(|id| ids.contains(id)).or(ids.first().copied());
        // No return policy, chosen, stays none.
        let return_policy_id = match self.return_policy_id {
            None if self.chosen => None,
            id => still(&id, policies),
        };
        ListingDefaults {
            shipping_profile_id: still(&self.shipping_profile_id, profiles),
            return_policy_id,
            currency: self.currency.clone(),
            chosen: self.chosen,
            shipping_profile_by_type: self
                .shipping_profile_by_type
                .iter()
                .filter(|(_, id)| profiles.contains(id))
                .map(|(t, id)| (t.clone(), *id))
                .collect(),
        }
    }
}

/// The seller chose what the shop's listings are drafted with (Etsy): its
/// shipping profile, per product type where they differ, and its return
/// policy, from those the shop has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShopListingDefaultsChosen {
    pub shipping_profile_id: u64,
    pub return_policy_id: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shipping_profile_by_type: BTreeMap<String, u64>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShopTokenRefreshed {
    pub token_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShopDisconnected {
    pub reason: String,
}

/// The marketplace no longer takes the shop's tokens (Etsy's
/// `invalid_grant`, a revoked Printify token): nothing is published to it
/// until the seller connects it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShopNeedsReconnect {
    pub reason: String,
}

event_enum! {
    /// Events of the Shop aggregate.
    pub enum ShopEvent {
        ShopConnected(ShopConnected) = 1,
        ShopTokenRefreshed(ShopTokenRefreshed) = 1,
        ShopDisconnected(ShopDisconnected) = 1,
        ShopNeedsReconnect(ShopNeedsReconnect) = 1,
        ShopListingDefaultsChosen(ShopListingDefaultsChosen) = 1,
    }
}

impl EventCodec for ShopEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShopCommand {
    /// Connects the shop, or connects it again: when it needs reconnecting,
    /// or when what its marketplace says of it (its listing defaults, its
    /// sales channel) has changed since; a shop connected as it is already
    /// is refused as `AlreadyConnected`.
    Connect(ShopConnected),
    RecordTokenRefresh {
        token_expires_at: DateTime<Utc>,
    },
    Disconnect {
        reason: Note,
    },
    /// The marketplace refused the shop's tokens for good; once is enough.
    MarkNeedsReconnect {
        reason: Note,
    },
    /// The seller's choice of the policies the shop's listings are drafted
    /// with, ids the marketplace was just asked for (checked there, not
    /// here); the same choice again records nothing.
    ChooseListingDefaults {
        shipping_profile_id: u64,
        return_policy_id: Option<u64>,
        shipping_profile_by_type: BTreeMap<String, u64>,
        by: Actor,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShopError {
    #[error("shop is already connected")]
    AlreadyConnected,
    #[error("shop is not connected")]
    NotConnected,
    #[error("external shop id is empty")]
    EmptyExternalId,
    #[error("only an Etsy shop drafts listings with its own shipping profile and return policy")]
    NoListingDefaults,
    #[error("{0:?} is not a product type (letters, digits, spaces, hyphens and underscores, at most 40)")]
    NotAProductType(String),
    #[error("at most {MAX_PRODUCT_TYPES} product types have a shipping profile of their own")]
    TooManyProductTypes,
}

/// The most product types a shop keeps a shipping profile of their own for.
pub const MAX_PRODUCT_TYPES: usize = 50;

/// A product type as the pipeline names them ("t-shirt", "tote bag"),
/// fit to be a key of a shop's listing defaults.
pub fn is_product_type(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 40
        && name.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shop {
    pub connected: bool,
    pub marketplace: Option<Marketplace>,
    /// Connected, but its tokens no longer work.
    #[serde(default)]
    pub needs_reconnect: bool,
    /// The shop's id at its marketplace (Etsy's shop_id, Printify's shop id).
    #[serde(default)]
    pub external_shop_id: Option<String>,
    #[serde(default)]
    pub listing_defaults: ListingDefaults,
    /// Where its products are sold (a Printify shop's sales channel).
    #[serde(default)]
    pub sales_channel: Option<String>,
}

impl super::StateVersion for Shop {
    // 3: the marketplace's shop id is kept; 4: its listing defaults; 5: its
    // sales channel; 6: the seller's choice of defaults, per product type;
    // 7: whether the owner chose them.
    const STATE_VERSION: u32 = 7;
}

/// Product-type keys fit to be kept (and projected: a NUL would halt the
/// read model of every shop), and not too many of them.
fn checked_types(by_type: &BTreeMap<String, u64>) -> Result<(), ShopError> {
    if by_type.len() > MAX_PRODUCT_TYPES {
        return Err(ShopError::TooManyProductTypes);
    }
    match by_type.keys().find(|t| !is_product_type(t)) {
        Some(bad) => Err(ShopError::NotAProductType(bad.chars().take(40).collect())),
        None => Ok(()),
    }
}

impl Aggregate for Shop {
    const TYPE: &'static str = "shop";
    type Command = ShopCommand;
    type Event = ShopEvent;
    type Error = ShopError;
    type Services = ();

    async fn handle(&mut self, command: ShopCommand, _: &(), sink: &EventSink<Self>) -> Result<(), ShopError> {
        match command {
            ShopCommand::Connect(e) => {
                let unchanged = e.listing_defaults == self.listing_defaults
                    && e.sales_channel == self.sales_channel
                    && Some(&e.external_shop_id) == self.external_shop_id.as_ref();
                if self.connected && !self.needs_reconnect && unchanged {
                    return Err(ShopError::AlreadyConnected);
                }
                if e.external_shop_id.trim().is_empty() {
                    return Err(ShopError::EmptyExternalId);
                }
                checked_types(&e.listing_defaults.shipping_profile_by_type)?;
                sink.write(ShopEvent::ShopConnected(e), self).await;
            }
            ShopCommand::RecordTokenRefresh { token_expires_at } => {
                if !self.connected {
                    return Err(ShopError::NotConnected);
                }
                sink.write(ShopEvent::ShopTokenRefreshed(ShopTokenRefreshed { token_expires_at }), self).await;
            }
            ShopCommand::Disconnect { reason } => {
                if !self.connected {
                    return Err(ShopError::NotConnected);
                }
                let reason = reason.into_string();
                sink.write(ShopEvent::ShopDisconnected(ShopDisconnected { reason }), self).await;
            }
            ShopCommand::MarkNeedsReconnect { reason } => {
                if !self.connected {
                    return Err(ShopError::NotConnected);
                }
                if !self.needs_reconnect {
                    let reason = reason.into_string();
                    sink.write(ShopEvent::ShopNeedsReconnect(ShopNeedsReconnect { reason }), self).await;
                }
            }
            ShopCommand::ChooseListingDefaults {
                shipping_profile_id,
                return_policy_id,
                shipping_profile_by_type,
                by,
            } => {
                if !self.connected {
                    return Err(ShopError::NotConnected);
                }
                if self.marketplace != Some(Marketplace::Etsy) {
                    return Err(ShopError::NoListingDefaults);
                }
                let mut by_type = BTreeMap::new();
                for (t, id) in shipping_profile_by_type {
                    // A type's own profile that is the shop's is no exception.
                    if id != shipping_profile_id {
                        by_type.insert(t.trim().to_lowercase(), id);
                    }
                }
                checked_types(&by_type)?;
                let d = &self.listing_defaults;
                let same = d.chosen
                    && d.shipping_profile_id == Some(shipping_profile_id)
                    && d.return_policy_id == return_policy_id
                    && d.shipping_profile_by_type == by_type;
                if !same {
                    let chosen = ShopListingDefaultsChosen {
                        shipping_profile_id,
                        return_policy_id,
                        shipping_profile_by_type: by_type,
                        by,
                    };
                    sink.write(ShopEvent::ShopListingDefaultsChosen(chosen), self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ShopEvent) {
        match event {
            ShopEvent::ShopConnected(e) => {
                self.connected = true;
                self.needs_reconnect = false;
                self.marketplace = Some(e.marketplace);
                self.external_shop_id = Some(e.external_shop_id);
                self.listing_defaults = e.listing_defaults;
                self.sales_channel = e.sales_channel;
            }
            // Tokens that refresh work again.
            ShopEvent::ShopTokenRefreshed(_) => self.needs_reconnect = false,
            ShopEvent::ShopDisconnected(_) => {
                self.connected = false;
                self.needs_reconnect = false;
            }
            ShopEvent::ShopNeedsReconnect(_) => self.needs_reconnect = true,
            ShopEvent::ShopListingDefaultsChosen(c) => {
                self.listing_defaults.shipping_profile_id = Some(c.shipping_profile_id);
                self.listing_defaults.return_policy_id = c.return_policy_id;
                self.listing_defaults.shipping_profile_by_type = c.shipping_profile_by_type;
                self.listing_defaults.chosen = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    #[test]
    fn a_disconnected_shop_cannot_refresh_tokens() {
        TestFramework::<Shop>::with(())
            .given_no_previous_events()
            .when(ShopCommand::RecordTokenRefresh { token_expires_at: DateTime::<Utc>::MIN_UTC })
            .then_expect_error(ShopError::NotConnected);
    }

    #[test]
    fn connecting_twice_is_refused() {
        let c = ShopConnected {
            marketplace: Marketplace::Etsy,
            external_shop_id: "123".into(),
            display_name: "Cat Shop".into(),
            token_expires_at: None,
            listing_defaults: ListingDefaults::default(),
            sales_channel: None,
        };
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(c.clone())])
            .when(ShopCommand::Connect(c))
            .then_expect_error(ShopError::AlreadyConnected);
    }

    #[test]
    fn a_shop_connected_again_with_what_changed_since_is_connected_anew() {
        // A shipping profile added on Etsy, then the shop connected again.
        let with_profile = ShopConnected {
            listing_defaults: ListingDefaults { shipping_profile_id: Some(7), ..ListingDefaults::default() },
            ..connected()
        };
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(ShopCommand::Connect(with_profile.clone()))
            .then_expect_events(vec![ShopEvent::ShopConnected(with_profile.clone())]);
        // A Printify shop whose sales channel changed.
        let on_shopify = ShopConnected { sales_channel: Some("shopify".into()), ..connected() };
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(ShopCommand::Connect(on_shopify.clone()))
            .then_expect_events(vec![ShopEvent::ShopConnected(on_shopify)]);
        // The same again: nothing new.
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(with_profile.clone())])
            .when(ShopCommand::Connect(with_profile))
            .then_expect_error(ShopError::AlreadyConnected);
    }

    fn connected() -> ShopConnected {
        ShopConnected {
            marketplace: Marketplace::Etsy,
            external_shop_id: "123".into(),
            display_name: "Cat Shop".into(),
            token_expires_at: None,
            listing_defaults: ListingDefaults::default(),
            sales_channel: None,
        }
    }

    #[test]
    fn a_connected_shop_is_disconnected_with_why() {
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(ShopCommand::Disconnect { reason: Note::parse("token revoked").unwrap() })
            .then_expect_events(vec![ShopEvent::ShopDisconnected(ShopDisconnected { reason: "token revoked".into() })]);
    }

    #[test]
    fn a_shop_that_is_not_connected_is_not_disconnected() {
        TestFramework::<Shop>::with(())
            .given_no_previous_events()
            .when(ShopCommand::Disconnect { reason: Note::parse("again").unwrap() })
            .then_expect_error(ShopError::NotConnected);
    }

    #[test]
    fn a_connected_shop_knows_its_id_at_the_marketplace() {
        let mut shop = Shop::default();
        shop.apply(ShopEvent::ShopConnected(connected()));
        assert_eq!(shop.external_shop_id.as_deref(), Some("123"));
    }

    fn refused_grant() -> ShopCommand {
        ShopCommand::MarkNeedsReconnect { reason: Note::parse("invalid_grant: the refresh token was revoked").unwrap() }
    }

    fn needs_reconnect() -> ShopEvent {
        ShopEvent::ShopNeedsReconnect(ShopNeedsReconnect {
            reason: "invalid_grant: the refresh token was revoked".into(),
        })
    }

    #[test]
    fn a_refused_grant_marks_the_shop_as_needing_reconnection() {
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(refused_grant())
            .then_expect_events(vec![needs_reconnect()]);
    }

    #[test]
    fn a_shop_is_marked_once_however_often_its_grant_is_refused() {
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected()), needs_reconnect()])
            .when(refused_grant())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_shop_that_is_not_connected_is_not_marked() {
        TestFramework::<Shop>::with(())
            .given_no_previous_events()
            .when(refused_grant())
            .then_expect_error(ShopError::NotConnected);
    }

    #[test]
    fn a_shop_that_needs_reconnecting_is_connected_again() {
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected()), needs_reconnect()])
            .when(ShopCommand::Connect(connected()))
            .then_expect_events(vec![ShopEvent::ShopConnected(connected())]);
    }

    fn seller() -> Actor {
        Actor::User { user_id: uuid::Uuid::from_u128(7) }
    }

    fn choose(shipping: u64, returns: Option<u64>, by_type: &[(&str, u64)]) -> ShopCommand {
        ShopCommand::ChooseListingDefaults {
            shipping_profile_id: shipping,
            return_policy_id: returns,
            shipping_profile_by_type: by_type.iter().map(|(t, id)| (t.to_string(), *id)).collect(),
            by: seller(),
        }
    }

    #[test]
    fn a_seller_chooses_the_shops_listing_defaults_once() {
        let chosen = ShopListingDefaultsChosen {
            shipping_profile_id: 8,
            return_policy_id: None,
            // Keys are product types as the pipeline names them; a type
            // given the shop's own profile is no exception.
            shipping_profile_by_type: BTreeMap::from([("mug".to_owned(), 9)]),
            by: seller(),
        };
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(choose(8, None, &[(" Mug ", 9), ("t-shirt", 8)]))
            .then_expect_events(vec![ShopEvent::ShopListingDefaultsChosen(chosen.clone())]);
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected()), ShopEvent::ShopListingDefaultsChosen(chosen)])
            .when(choose(8, None, &[("mug", 9)]))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_product_type_that_is_not_one_is_refused() {
        for bad in ["", "mug\u{0}", "\u{202E}mug", &"m".repeat(41)] {
            let refused = TestFramework::<Shop>::with(())
                .given(vec![ShopEvent::ShopConnected(connected())])
                .when(choose(8, None, &[(bad, 9)]))
                .inspect_result();
            assert!(matches!(refused, Err(ShopError::NotAProductType(_))), "{bad:?}: {refused:?}");
        }
    }

    #[test]
    fn a_printify_or_disconnected_shop_has_no_listing_defaults_to_choose() {
        let printify = ShopConnected { marketplace: Marketplace::Printify, ..connected() };
        TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(printify)])
            .when(choose(8, None, &[]))
            .then_expect_error(ShopError::NoListingDefaults);
        TestFramework::<Shop>::with(())
            .given_no_previous_events()
            .when(choose(8, None, &[]))
            .then_expect_error(ShopError::NotConnected);
    }

    #[test]
    fn a_listing_ships_with_its_product_types_profile_or_the_shops() {
        let mut shop = Shop::default();
        shop.apply(ShopEvent::ShopConnected(connected()));
        shop.apply(ShopEvent::ShopListingDefaultsChosen(ShopListingDefaultsChosen {
            shipping_profile_id: 8,
            return_policy_id: Some(3),
            shipping_profile_by_type: BTreeMap::from([("mug".to_owned(), 9)]),
            by: seller(),
        }));
        let d = &shop.listing_defaults;
        assert_eq!([d.shipping_profile_for("Mug "), d.shipping_profile_for("t-shirt")], [Some(9), Some(8)]);
        assert_eq!(d.return_policy_id, Some(3));
    }

    #[test]
    fn a_choice_is_kept_where_the_shop_still_has_it() {
        let chosen = ListingDefaults {
            shipping_profile_id: Some(8),
            return_policy_id: Some(3),
            currency: Some("USD".into()),
            shipping_profile_by_type: BTreeMap::from([("mug".to_owned(), 9), ("poster".to_owned(), 10)]),
            chosen: true,
        };
        assert_eq!(chosen.kept_on(&[7, 8, 9, 10], &[2, 3]), chosen);
        let after = chosen.kept_on(&[7, 9], &[]);
        assert_eq!((after.shipping_profile_id, after.return_policy_id), (Some(7), None));
        assert_eq!(after.shipping_profile_by_type, BTreeMap::from([("mug".to_owned(), 9)]));
        assert_eq!(after.currency.as_deref(), Some("USD"));
        assert_eq!(ListingDefaults::default().kept_on(&[7, 8], &[2]).shipping_profile_id, Some(7));
        // No return policy: the shop's first one, unless the owner chose none.
        let unchosen = ListingDefaults { shipping_profile_id: Some(8), ..ListingDefaults::default() };
        assert_eq!(unchosen.kept_on(&[8], &[2, 3]).return_policy_id, Some(2));
        let none_chosen = ListingDefaults { chosen: true, ..unchosen };
        assert_eq!(none_chosen.kept_on(&[8], &[2, 3]).return_policy_id, None);
    }

    #[test]
    fn a_connection_with_a_product_type_that_is_not_one_is_refused() {
        let bad = ListingDefaults {
            shipping_profile_by_type: BTreeMap::from([("mug\u{0}".to_owned(), 9)]),
            ..ListingDefaults::default()
        };
        let refused = TestFramework::<Shop>::with(())
            .given_no_previous_events()
            .when(ShopCommand::Connect(ShopConnected { listing_defaults: bad, ..connected() }))
            .inspect_result();
        assert!(matches!(refused, Err(ShopError::NotAProductType(_))), "{refused:?}");
        let many: Vec<(String, u64)> = (0..=MAX_PRODUCT_TYPES).map(|i| (format!("type {i}"), 9)).collect();
        let many: Vec<(&str, u64)> = many.iter().map(|(t, id)| (t.as_str(), *id)).collect();
        let refused = TestFramework::<Shop>::with(())
            .given(vec![ShopEvent::ShopConnected(connected())])
            .when(choose(8, None, &many))
            .inspect_result();
        assert!(matches!(refused, Err(ShopError::TooManyProductTypes)), "{refused:?}");
    }

    #[test]
    fn a_token_that_refreshes_again_clears_the_mark() {
        let refreshed = ShopTokenRefreshed { token_expires_at: DateTime::<Utc>::MIN_UTC };
        TestFramework::<Shop>::with(())
            .given(vec![
                ShopEvent::ShopConnected(connected()),
                needs_reconnect(),
                ShopEvent::ShopTokenRefreshed(refreshed),
            ])
            .when(refused_grant())
            .then_expect_events(vec![needs_reconnect()]);
    }
}
