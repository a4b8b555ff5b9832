//! RFC 3261 §12 dialogs: the identifiers, route set, remote target and CSeq
//! counters that in-dialog requests are built from. Pure data plus rules.

#[cfg(test)]
mod tests;

use crate::message::{header_param, split_list, uri_of, SipMessage};

/// A route set longer than this is refused (bounded inputs).
pub const MAX_ROUTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    /// Empty while an outgoing call has no answer with a tag yet.
    pub remote_tag: String,
    /// Our From/To name-addr without tag.
    pub local_uri: String,
    pub remote_uri: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: String,
    /// Route headers for in-dialog requests, in sending order.
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: Option<u32>,
}

impl Dialog {
    /// The dialog our INVITE `request` created, as its `response` (1xx with a
    /// To tag, or 2xx) shows it: route set = Record-Route reversed (§12.1.2).
    pub fn as_caller(request: &SipMessage, response: &SipMessage) -> Option<Dialog> {
        let mut routes = record_routes(response)?;
        routes.reverse();
        Some(Dialog {
            call_id: request.header("Call-ID")?.to_string(),
            local_tag: request.tag("From")?.to_string(),
            remote_tag: response.tag("To").unwrap_or_default().to_string(),
            local_uri: without_tag(request.header("From")?),
            remote_uri: without_tag(request.header("To")?),
            remote_target: contact_uri(response).unwrap_or_else(|| request.request_uri().unwrap_or_default().to_string()),
            route_set: routes,
            local_cseq: request.cseq()?.0,
            remote_cseq: None,
        })
    }

    /// The dialog an INVITE we received creates, with our `local_tag`
    /// (route set = Record-Route in order, §12.1.1).
    pub fn as_callee(request: &SipMessage, local_tag: &str) -> Option<Dialog> {
        Some(Dialog {
            call_id: request.header("Call-ID")?.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: request.tag("From")?.to_string(),
            local_uri: without_tag(request.header("To")?),
            remote_uri: without_tag(request.header("From")?),
            remote_target: contact_uri(request)?,
            route_set: record_routes(request)?,
            local_cseq: 0,
            remote_cseq: Some(request.cseq()?.0),
        })
    }

    /// Target refresh (§12.2): a re-INVITE, UPDATE or their 2xx may move the peer.
    pub fn refresh_target(&mut self, msg: &SipMessage) {
        if let Some(uri) = contact_uri(msg) {
            self.remote_target = uri;
        }
    }

    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq = self.local_cseq.wrapping_add(1).max(1);
        self.local_cseq
    }

    /// In-dialog requests must come in CSeq order (§12.2.2): false → 500.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        match self.remote_cseq {
            Some(last) if cseq <= last => false,
            _ => {
                self.remote_cseq = Some(cseq);
                true
            }
        }
    }

    /// True when `msg` (a request or a response) belongs to this dialog.
    pub fn matches_request(&self, msg: &SipMessage) -> bool {
        msg.header("Call-ID") == Some(self.call_id.as_str())
            && msg.tag("To") == Some(self.local_tag.as_str())
            && msg.tag("From").unwrap_or_default() == self.remote_tag
    }

    /// RFC 3891: a Replaces header names a dialog by Call-ID, the recipient's
    /// own tag (`to-tag`) and the other party's tag (`from-tag`).
    pub fn matches_replaces(&self, replaces: &Replaces) -> bool {
        self.call_id == replaces.call_id && self.local_tag == replaces.to_tag && self.remote_tag == replaces.from_tag
    }

    /// This dialog as another party would name it in a Replaces header
    /// (the peer receiving it sees our remote tag as its own).
    pub fn replaces_for_peer(&self) -> Replaces {
        Replaces { call_id: self.call_id.clone(), to_tag: self.remote_tag.clone(), from_tag: self.local_tag.clone() }
    }

    /// The R-URI and the dialog headers of a new in-dialog request.
    pub fn request_headers(&self, method: &str, cseq: u32) -> (String, Vec<(&'static str, String)>) {
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        for route in &self.route_set {
            headers.push(("Route", route.clone()));
        }
        headers.push(("From", format!("{};tag={}", self.local_uri, self.local_tag)));
        let to = if self.remote_tag.is_empty() {
            self.remote_uri.clone()
        } else {
            format!("{};tag={}", self.remote_uri, self.remote_tag)
        };
        headers.push(("To", to));
        headers.push(("Call-ID", self.call_id.clone()));
        headers.push(("CSeq", format!("{cseq} {method}")));
        (self.remote_target.clone(), headers)
    }
}

/// `Replaces: call-id;to-tag=…;from-tag=…` (RFC 3891).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
}

impl Replaces {
    pub fn parse(value: &str) -> Option<Replaces> {
        let call_id = value.split(';').next()?.trim();
        let to_tag = header_param(value, "to-tag")?;
        let from_tag = header_param(value, "from-tag")?;
        if call_id.is_empty() || to_tag.is_empty() || from_tag.is_empty() {
            return None;
        }
        Some(Replaces { call_id: call_id.to_string(), to_tag: to_tag.to_string(), from_tag: from_tag.to_string() })
    }

    pub fn to_header(&self) -> String {
        format!("{};to-tag={};from-tag={}", self.call_id, self.to_tag, self.from_tag)
    }
}

/// Every Record-Route entry, in order; None when there are too many.
fn record_routes(msg: &SipMessage) -> Option<Vec<String>> {
    let routes: Vec<String> =
        msg.header_values("Record-Route").flat_map(split_list).map(str::to_string).collect();
    (routes.len() <= MAX_ROUTES).then_some(routes)
}

fn contact_uri(msg: &SipMessage) -> Option<String> {
    let contact = msg.contacts().into_iter().next()?;
    let uri = uri_of(contact);
    let valid = uri.len() <= 1024 && (uri.starts_with("sip:") || uri.starts_with("sips:")) && !uri.contains(char::is_whitespace);
    valid.then(|| uri.to_string())
}

/// A From/To value without its `;tag=` (kept outside the `<…>`).
fn without_tag(value: &str) -> String {
    match value.find('>') {
        Some(end) => value[..=end].trim().to_string(),
        None => format!("<{}>", value.split(';').next().unwrap_or_default().trim()),
    }
}
