//! SDP for Homeline: a tolerant model of RFC 8866 session descriptions and
//! the adaptations between what PBXs send and what the WebRTC stack
//! (webrtc-rs 0.21) accepts. Pure functions on values: no I/O, no clock,
//! no panics on any input. See README.md for which PBX quirk each answers.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod codec;
mod direction;
mod error;
mod model;
mod offer;
mod payload;
mod prefs;
mod summary;

pub use codec::{is_dynamic_pt, parse_rtpmap, static_codec, Codec};
pub use direction::{remote_media, set_audio_direction, Direction, RemoteMedia};
pub use error::{AdaptError, ParseError};
pub use model::{
    is_valid_mid, Attributes, Line, MediaSection, Session, SessionDescription, MAX_LINES,
    MAX_MEDIA, MAX_SDP_BYTES,
};
pub use offer::{adapt_remote_offer, adapt_remote_offer_text, OfferChanges};
pub use payload::{keep_payload_types, PayloadRemap};
pub use prefs::{apply_codec_preferences, CodecPreferences, PreferenceChanges};
pub use summary::{summarize, Summary};
