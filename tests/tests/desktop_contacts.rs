//! Contacts in the real app, end to end: the Tauri app under Xvfb
//! (tauri-driver + WebKitWebDriver) adds a contact through the form, stars
//! it (and the tray's quick-dial menu lists it), imports pasted vCard text,
//! searches, deletes with a confirmation; after a restart everything is
//! still there, kept in `contacts.sqlite` in the data folder. And a caller
//! who is in the contacts is shown by the contact's name — on the incoming
//! screen and in the history — not by the name their phone sends.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::desktop::{self, Element, WebDriverSession};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::services::secrets;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

const VCARD: &str = "BEGIN:VCARD\nVERSION:3.0\nFN:Carol Díaz\nORG:Acme\nTEL;TYPE=WORK:carol@pbx.example.com\nEND:VCARD\n\
BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen\nTEL;CELL:0171 5550123\nEND:VCARD\n\
BEGIN:VCARD\nNOTE:nothing to keep\nEND:VCARD\n";

fn find(session: &WebDriverSession, testid: &str) -> Element {
    session.find(&format!("[data-testid={testid}]"), WAIT).unwrap_or_else(|e| panic!("{testid}: {e}"))
}

/// The texts of every element `testid`, in page order.
fn texts(session: &WebDriverSession, testid: &str) -> Vec<String> {
    let script = format!("return [...document.querySelectorAll('[data-testid={testid}]')].map((e) => e.textContent.trim())");
    match session.execute(&script, json!([])).expect("read texts") {
        Value::Array(items) => items.into_iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
        other => panic!("not a list: {other}"),
    }
}

/// Wait until `read` gives something `want` accepts; the last value in the panic.
fn wait_for<T: std::fmt::Debug>(what: &str, mut read: impl FnMut() -> T, want: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = read();
        if want(&value) {
            return value;
        }
        if Instant::now() > deadline {
            panic!("{what}: still {value:?} after {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(session: &WebDriverSession) -> String {
    texts(session, "status-line").into_iter().next().unwrap_or_default()
}

/// The tray menu's lines, as the shell built them.
fn tray_lines(session: &WebDriverSession) -> Vec<String> {
    // WebDriver waits for a returned promise.
    let script = "return window.__TAURI_INTERNALS__.invoke('tray_menu_lines', {}).catch((e) => ['error: ' + JSON.stringify(e)])";
    match session.execute(script, json!([])).expect("ask for the tray menu") {
        Value::Array(items) => items.into_iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
        other => panic!("not a list: {other}"),
    }
}

fn open_contacts(session: &WebDriverSession) {
    session.find("[data-testid=dial-display]", Duration::from_secs(30)).expect("the dialer is shown");
    session.click(&find(session, "contacts-button")).expect("open Contacts");
    find(session, "contacts-screen");
}

fn start_app(driver: &desktop::TauriDriver, app: &Path) -> WebDriverSession {
    driver.session(app).expect("WebDriver session on the Homeline window")
}

#[test]
fn contacts_are_added_starred_imported_searched_deleted_and_kept() {
    let app = homeline_tests::built_binary("homeline");
    let home = desktop::PrivateHome::new().expect("private home");
    let data_home = home.data();
    let env = home.env(Vec::new());
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");

    {
        let session = start_app(&driver, &app);
        open_contacts(&session);
        find(&session, "contacts-empty");

        // ---- add one through the form -------------------------------------------
        session.click(&find(&session, "contact-add")).expect("click Add a contact");
        session.send_keys(&find(&session, "contact-name"), "Bob Stone").expect("type the name");
        session.send_keys(&find(&session, "contact-number"), "2002").expect("type the number");
        session.click(&find(&session, "contact-save")).expect("click Save");
        wait_for("the new contact is listed", || texts(&session, "contact-row-name"), |names| names == &["Bob Stone"]);
        assert_eq!(status(&session), "Bob Stone was added to your contacts.");

        // ---- a form with nothing in it is refused in words ------------------------
        session.click(&find(&session, "contact-add")).expect("click Add a contact");
        session.click(&find(&session, "contact-save")).expect("click Save on an empty form");
        let error = session.text(&find(&session, "contact-error")).expect("the form's error");
        assert_eq!(error.trim(), "A contact needs a name or a number.");
        session.click(&find(&session, "contact-cancel")).expect("click Cancel");

        // ---- a star puts it in the tray's quick-dial menu --------------------------
        assert!(!tray_lines(&session).iter().any(|l| l.contains("Bob Stone")), "not a favorite yet");
        session.click(&find(&session, "contact-star")).expect("star Bob");
        wait_for(
            "the star is on",
            || session.execute("return document.querySelector('[data-testid=contact-star]').getAttribute('aria-pressed')", json!([])).ok(),
            |v| v == &Some(json!("true")),
        );
        let lines = wait_for("the tray menu lists the favorite", || tray_lines(&session), |l| l.iter().any(|l| l == "★ Bob Stone"));
        assert_eq!(lines.first().map(String::as_str), Some("Favorites"), "favorites come first: {lines:?}");

        // ---- import pasted vCard text ---------------------------------------------
        session.click(&find(&session, "vcard-paste-open")).expect("click Paste vCard");
        // WebKitWebDriver drops "\n": line breaks are typed as Enter.
        session.send_keys(&find(&session, "vcard-paste"), &VCARD.replace('\n', ENTER)).expect("paste the vCard text");
        session.click(&find(&session, "vcard-paste-import")).expect("click Import");
        wait_for("the imported contacts are listed", || (texts(&session, "contact-row-name"), status(&session)), |(n, _)| n.len() == 3);
        assert_eq!(texts(&session, "contact-row-name"), ["Bob Stone", "Carol Díaz", "Jürgen Müller"], "by name, quoted-printable decoded");
        assert_eq!(status(&session), "Imported 2 contacts; 1 card without a name or number left out.");

        // ---- a broken file is refused in words, nothing added ----------------------
        session.click(&find(&session, "vcard-paste-open")).expect("click Paste vCard");
        let broken = format!("BEGIN:VCARD{ENTER}FN:Half a card{ENTER}");
        session.send_keys(&find(&session, "vcard-paste"), &broken).expect("paste a broken card");
        session.click(&find(&session, "vcard-paste-import")).expect("click Import");
        wait_for("the import error is shown", || status(&session), |s| s.contains("never ends"));
        assert_eq!(texts(&session, "contact-row-name").len(), 3);

        // ---- search, then delete with a confirmation --------------------------------
        session.send_keys(&find(&session, "contacts-search"), "0171").expect("search by number");
        wait_for("the search finds Jürgen", || texts(&session, "contact-row-name"), |n| n == &["Jürgen Müller"]);
        session.click(&find(&session, "contact-delete")).expect("click Delete");
        session.click(&find(&session, "contact-delete-confirm")).expect("confirm");
        find(&session, "contacts-empty");
        assert_eq!(status(&session), "Jürgen Müller was deleted.");
    }

    // ---- a restart keeps them, in the data folder ------------------------------------
    let stored = data_home.join("homeline/contacts.sqlite");
    assert!(stored.is_file(), "contacts are kept in {}", stored.display());
    let session = start_app(&driver, &app);
    open_contacts(&session);
    wait_for("the contacts are still there", || texts(&session, "contact-row-name"), |n| n == &["Bob Stone", "Carol Díaz"]);
    let starred = session.execute("return document.querySelector('[data-testid=contact-star]').getAttribute('aria-pressed')", json!([])).expect("read the star");
    assert_eq!(starred, json!("true"), "Bob is still a favorite");
    wait_for("the tray menu is built from the saved favorites", || tray_lines(&session), |l| l.iter().any(|l| l == "★ Bob Stone"));

    // ---- a second favorite; the menu as the app built it, for the README -----------
    let carol = session.find("[data-testid=contact-row]:nth-child(2) [data-testid=contact-star]", WAIT).expect("Carol's star");
    session.click(&carol).expect("star Carol");
    let lines = wait_for("both favorites are in the tray menu", || tray_lines(&session), |l| l.iter().any(|l| l == "★ Carol Díaz"));
    assert_eq!(&lines[..3], ["Favorites", "★ Bob Stone", "★ Carol Díaz"], "{lines:?}");
    tray_menu_picture(&session, &app, &lines);
}

#[test]
fn a_caller_in_the_contacts_is_shown_by_the_contacts_name() {
    const ALICE: &str = "alice-contacts-secret-3381";
    const BOB: &str = "bob-contacts-secret-7720";
    let app = homeline_tests::built_binary("homeline");
    let k = kamailio::start(&KamailioOptions::new().user("alice", ALICE).user("bob", BOB)).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
    let home = desktop::PrivateHome::new().expect("private home");
    let mut env = home.env(secret_service.env());
    env.push(("HOMELINE_TEST_LOOPBACK_MEDIA".to_owned(), "1".to_owned()));
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = start_app(&driver, &app);

    // Alice's account, through the setup form (the server is typed over the suggestion).
    session.click(&session.find("[data-testid=setup-button]", Duration::from_secs(30)).expect("set-up offered")).expect("click Set up");
    session.send_keys(&find(&session, "account-address"), &format!("alice@{}", k.domain())).expect("type the address");
    session.send_keys(&find(&session, "account-password"), ALICE).expect("type the password");
    let server = find(&session, "account-server");
    session.send_keys(&server, &"\u{E003}".repeat(60)).expect("clear the server URL");
    session.send_keys(&server, &k.ws_url()).expect("type the server URL");
    session.click(&find(&session, "account-save")).expect("click Save");
    wait_for("alice registers", || texts(&session, "registration-progress"), |t| t.iter().any(|t| t == "Registered"));
    session.click(&find(&session, "registration-done")).expect("click Done");

    // Bob is in her contacts under the name she gave him.
    open_contacts(&session);
    session.click(&find(&session, "contact-add")).expect("click Add a contact");
    session.send_keys(&find(&session, "contact-name"), "Robert (Acme sales)").expect("type the name");
    session.send_keys(&find(&session, "contact-number"), &format!("bob@{}", k.domain())).expect("type bob's address");
    session.click(&find(&session, "contact-save")).expect("click Save");
    wait_for("the contact is saved", || texts(&session, "contact-row-name"), |n| n == &["Robert (Acme sales)"]);

    // Bob (homeline-cli) calls; she declines.
    let mut cmd = std::process::Command::new(homeline_tests::built_binary("homeline-cli"));
    cmd.args(phone_args(&k, "bob")).args(["--loopback", "--for", "60"]);
    let mut bob = CliPhone::spawn(cmd, BOB).expect("start homeline-cli");
    bob.expect("bob registered", |v| registration_is(v, "registered"));
    bob.send("dial alice");
    find(&session, "incoming-screen");
    let name = wait_for("the incoming screen names the contact", || texts(&session, "incoming-name"), |t| t.iter().any(|t| t.contains("Robert")));
    // (The heading starts with words for screen readers.)
    assert_eq!(name, ["Incoming call from Robert (Acme sales)"], "the contact's name, not the caller's address");
    session.click(&find(&session, "decline-button")).expect("click Decline");
    bob.expect("bob's call ends", |v| call_state_is(v, "ended"));

    // The history row carries the same name.
    // (The incoming call came over the contacts screen, which is back now.)
    session.find("[data-testid=contacts-screen]", Duration::from_secs(10)).expect("the contacts screen is back");
    session.click(&find(&session, "history-button")).expect("open History");
    let names = wait_for("the call is in the history", || texts(&session, "history-name"), |n| !n.is_empty());
    assert_eq!(names, ["Robert (Acme sales)"]);
}

/// Draw the tray menu's lines over the window and save a PNG beside the app
/// (best effort): under Xvfb no tray host can open the real menu. The drawing
/// keeps animating so WebKitWebDriver gets the painted frame it waits for.
fn tray_menu_picture(session: &WebDriverSession, app: &Path, lines: &[String]) {
    let script = "const lines = arguments[0];
        const box = document.createElement('div');
        box.style.cssText = 'position:fixed;inset:0;background:#2b2f36;display:flex;align-items:flex-start;justify-content:flex-end;padding:10px;font:14px system-ui,sans-serif;z-index:99';
        const menu = document.createElement('div');
        menu.style.cssText = 'background:#fff;color:#222;border-radius:6px;box-shadow:0 6px 24px rgba(0,0,0,.45);padding:6px 0;min-width:220px;animation:nudge 1s infinite alternate';
        const style = document.createElement('style');
        style.textContent = '@keyframes nudge { from { opacity: 1 } to { opacity: .99 } }';
        for (const line of lines) {
          const row = document.createElement('div');
          if (line === '—') { row.style.cssText = 'height:1px;background:#ddd;margin:5px 0'; }
          else {
            const heading = line === 'Favorites' || line === 'Recent';
            row.textContent = line;
            row.style.cssText = 'padding:5px 16px;' + (heading ? 'color:#888;font-size:12px' : '');
          }
          menu.appendChild(row);
        }
        box.append(style, menu);
        document.body.appendChild(box);
        return null";
    session.execute(script, json!([lines])).expect("draw the tray menu");
    if let Ok(png) = session.screenshot() {
        let out = app.parent().map(|d| d.join("homeline-screenshots")).expect("target dir");
        let _ = std::fs::create_dir_all(&out);
        let _ = std::fs::write(out.join("tray-menu.png"), png);
    }
}
