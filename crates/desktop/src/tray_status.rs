//! What the tray icon says at a glance: offline, registered, in a call (and
//! whether the microphone is open), missed calls, Do Not Disturb. Pure: the
//! status is computed from plain facts and drawn as a badge on the app icon, so
//! both are tested without a tray.

/// The facts the tray shows, gathered from the engine by `tray.rs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrayFacts {
    /// Enabled accounts, and how many of them are registered now.
    pub accounts: usize,
    pub registered: usize,
    /// Why the first account that is not registered is not (in words).
    pub failure: Option<String>,
    /// Calls not ended, and the one the tray offers mute and hang-up for.
    pub calls: usize,
    pub call: Option<CallLine>,
    /// Missed calls since the window was last shown.
    pub missed: usize,
    pub do_not_disturb: bool,
    /// The microphone is open (a call, the echo test or Settings' meter).
    pub microphone: bool,
}

/// The call the tray menu acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    pub call: String,
    /// The other side as the user knows them (contact name or number).
    pub label: String,
    pub muted: bool,
}

/// The badge drawn on the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    /// No account registered: the icon in grey.
    Offline,
    /// Registered, nothing to report: the plain icon.
    Ready,
    /// A call is up (green dot).
    InCall,
    /// Calls were missed (red dot).
    Missed,
    /// Registered but turning calls away (amber dot).
    DoNotDisturb,
}

impl TrayFacts {
    /// The most urgent thing first: a call, then missed calls, then whether
    /// calls can reach the user at all.
    pub fn badge(&self) -> Badge {
        if self.calls > 0 {
            Badge::InCall
        } else if self.missed > 0 {
            Badge::Missed
        } else if self.registered == 0 {
            Badge::Offline
        } else if self.do_not_disturb {
            Badge::DoNotDisturb
        } else {
            Badge::Ready
        }
    }

    /// The tooltip: the same facts in words.
    pub fn tooltip(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match &self.call {
            Some(call) if self.calls > 1 => parts.push(format!("In a call with {} (+{} more)", call.label, self.calls - 1)),
            Some(call) => parts.push(format!("In a call with {}{}", call.label, if call.muted { ", muted" } else { "" })),
            None if self.calls > 0 => parts.push("A call is starting".into()),
            None => {}
        }
        if self.microphone {
            parts.push("microphone on".into());
        }
        match self.missed {
            0 => {}
            1 => parts.push("1 missed call".into()),
            n => parts.push(format!("{n} missed calls")),
        }
        if self.accounts == 0 {
            parts.push("no account yet".into());
        } else if self.registered == 0 {
            parts.push(match &self.failure {
                Some(reason) => format!("offline: {reason}"),
                None => "offline".into(),
            });
        } else if self.calls == 0 {
            parts.push("ready for calls".into());
        }
        if self.do_not_disturb {
            parts.push("Do Not Disturb".into());
        }
        let text = format!("Homeline — {}", parts.join(" · "));
        crate::tray_menu::cut_to(&text, 120)
    }
}

/// `icon` (RGBA, `width` × `height`) with `badge` drawn on it: grey for
/// offline, a dot in the lower right corner for a call, missed calls or Do Not
/// Disturb, unchanged when ready. A wrong-sized buffer is returned as it is.
pub fn draw_badge(icon: &[u8], width: u32, height: u32, badge: Badge) -> Vec<u8> {
    let mut out = icon.to_vec();
    let (w, h) = (width as usize, height as usize);
    if out.len() != w * h * 4 || w == 0 || h == 0 {
        return out;
    }
    let colour = match badge {
        Badge::Ready => return out,
        Badge::Offline => {
            for px in out.chunks_exact_mut(4) {
                let grey = ((u32::from(px[0]) * 30 + u32::from(px[1]) * 59 + u32::from(px[2]) * 11) / 100) as u8;
                // Lighter and fainter: "not connected" at a glance.
                let grey = grey / 2 + 96;
                px[0] = grey;
                px[1] = grey;
                px[2] = grey;
                px[3] = (u32::from(px[3]) * 3 / 4) as u8;
            }
            return out;
        }
        Badge::InCall => [0x1e, 0xa0, 0x4b],
        Badge::Missed => [0xd9, 0x2d, 0x20],
        Badge::DoNotDisturb => [0xf0, 0xa0, 0x10],
    };
    // A dot of 40 % of the icon, with a white ring so it reads on any panel.
    let size = w.min(h) as f32;
    let radius = size * 0.2;
    let ring = radius + size * 0.05;
    let (cx, cy) = (w as f32 - ring, h as f32 - ring);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let i = (y * w + x) * 4;
            if d <= radius {
                out[i..i + 4].copy_from_slice(&[colour[0], colour[1], colour[2], 255]);
            } else if d <= ring {
                out[i..i + 4].copy_from_slice(&[255, 255, 255, 255]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> TrayFacts {
        TrayFacts { accounts: 1, registered: 1, ..TrayFacts::default() }
    }

    #[test]
    fn the_most_urgent_fact_wins_the_badge() {
        assert_eq!(TrayFacts::default().badge(), Badge::Offline);
        assert_eq!(ready().badge(), Badge::Ready);
        assert_eq!(TrayFacts { do_not_disturb: true, ..ready() }.badge(), Badge::DoNotDisturb);
        assert_eq!(TrayFacts { missed: 2, do_not_disturb: true, ..ready() }.badge(), Badge::Missed);
        assert_eq!(TrayFacts { calls: 1, missed: 2, ..ready() }.badge(), Badge::InCall);
        // Missed calls show even while offline: they happened.
        assert_eq!(TrayFacts { missed: 1, ..TrayFacts { accounts: 1, ..TrayFacts::default() } }.badge(), Badge::Missed);
    }

    #[test]
    fn the_tooltip_says_it_in_words() {
        assert_eq!(TrayFacts::default().tooltip(), "Homeline — no account yet");
        assert_eq!(ready().tooltip(), "Homeline — ready for calls");
        let offline = TrayFacts { accounts: 1, failure: Some("wrong password".into()), missed: 1, ..TrayFacts::default() };
        assert_eq!(offline.tooltip(), "Homeline — 1 missed call · offline: wrong password");
        let call = CallLine { call: "c1".into(), label: "Bob Stone".into(), muted: true };
        let in_call = TrayFacts { calls: 1, call: Some(call.clone()), microphone: true, ..ready() };
        assert_eq!(in_call.tooltip(), "Homeline — In a call with Bob Stone, muted · microphone on");
        let two = TrayFacts { calls: 2, call: Some(call), do_not_disturb: true, ..ready() };
        assert_eq!(two.tooltip(), "Homeline — In a call with Bob Stone (+1 more) · Do Not Disturb");
        let long = TrayFacts { accounts: 1, failure: Some("x".repeat(500)), ..TrayFacts::default() };
        assert_eq!(long.tooltip().chars().count(), 120);
    }

    #[test]
    fn badges_are_drawn_where_they_can_be_seen() {
        let (w, h) = (32u32, 32u32);
        let icon: Vec<u8> = std::iter::repeat_n([40u8, 90, 200, 255], (w * h) as usize).flatten().collect();
        let px = |img: &[u8], x: u32, y: u32| img[((y * w + x) * 4) as usize..((y * w + x) * 4 + 4) as usize].to_vec();
        assert_eq!(draw_badge(&icon, w, h, Badge::Ready), icon);
        let call = draw_badge(&icon, w, h, Badge::InCall);
        assert_eq!(px(&call, 26, 26), [0x1e, 0xa0, 0x4b, 255], "green dot in the lower right");
        assert_eq!(px(&call, 2, 2), [40, 90, 200, 255], "the rest untouched");
        assert_eq!(px(&draw_badge(&icon, w, h, Badge::Missed), 26, 26), [0xd9, 0x2d, 0x20, 255]);
        let grey = draw_badge(&icon, w, h, Badge::Offline);
        let p = px(&grey, 2, 2);
        assert!(p[0] == p[1] && p[1] == p[2] && p[3] < 255, "grey and faint: {p:?}");
        // A buffer that does not match its size is left alone, not indexed past its end.
        assert_eq!(draw_badge(&[1, 2, 3], 32, 32, Badge::InCall), [1, 2, 3]);
        assert_eq!(draw_badge(&[], 0, 0, Badge::Offline), Vec::<u8>::new());
    }
}
