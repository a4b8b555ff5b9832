//! SIP user agent (arrives with issue 3).
