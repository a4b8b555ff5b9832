//! One WebRTC media session per call, on webrtc-rs 0.21.1.
//!
//! A [`Session`] owns a PeerConnection with one audio m-line (room is left for a video one),
//! pre-gathers ICE candidates, creates or answers offers without waiting for complete
//! gathering (SIP does not trickle), sends 20 ms frames from an
//! [`homeline_media::AudioSource`] and decodes what it receives into an
//! [`homeline_media::AudioSink`], sends and receives RFC 4733 DTMF, reports plain-typed
//! [`SessionEvent`]s and [`SessionStats`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), homeline_rtc::RtcError> {
//! use homeline_media::frame::{NullSink, SilenceSource};
//! use homeline_rtc::{MediaIo, Session, SessionConfig};
//! let (caller, mut events) = Session::new(
//!     SessionConfig::default(),
//!     MediaIo { source: Box::new(SilenceSource), sink: Box::new(NullSink::default()) },
//! ).await?;
//! caller.prepare().await?;                 // start gathering before the user dials
//! let offer_sdp = caller.create_offer().await?; // ≤ 500 ms, candidates so far
//! // … INVITE with offer_sdp, 200 OK with answer_sdp …
//! # let answer_sdp = String::new();
//! caller.accept_answer(&answer_sdp).await?;
//! caller.send_dtmf("123#")?;
//! caller.close().await;
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod config;
mod error;
mod handler;
mod media;
pub mod network_check;
pub mod turn_tcp;
pub mod turn_tls;
mod sdp_map;
mod session;
mod stats;

pub use config::{IceServer, SessionConfig, TELEPHONE_EVENT_48K_PT, TELEPHONE_EVENT_8K_PT};
pub use error::RtcError;
pub use session::{MediaIo, Session, SessionEvent};
pub use stats::{e_model_mos, mos_from_r, SessionStats};

pub use homeline_media::CodecKind;
