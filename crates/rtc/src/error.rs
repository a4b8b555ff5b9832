/// Errors of a media session, each with a sentence a person understands.
#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    #[error("The media connection could not be set up: {0}")]
    Setup(String),
    #[error("The other side's session description was not acceptable: {0}")]
    RemoteDescription(String),
    #[error("Could not create our session description: {0}")]
    LocalDescription(String),
    #[error("The call has no codec both sides support (we offer {offered})")]
    NoCommonCodec { offered: String },
    #[error(
        "The other side did not accept touch tones (no telephone-event); send them another way"
    )]
    NoTelephoneEvent,
    #[error("The media session is closed")]
    Closed,
    #[error(transparent)]
    Media(#[from] homeline_media::MediaError),
}

impl RtcError {
    pub(crate) fn setup(e: impl std::fmt::Display) -> Self {
        RtcError::Setup(e.to_string())
    }
}
