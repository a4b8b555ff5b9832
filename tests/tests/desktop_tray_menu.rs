//! The tray menu, clicked through a real tray. The app is started in the
//! tray (`--minimised`, launched directly) under Xvfb, with a tray host on
//! the harness bus (`services::tray_host`: the StatusNotifierWatcher and
//! dbusmenu client that GNOME's AppIndicator extension and KDE Plasma are),
//! so its icon registers there and its menu is read and clicked over D-Bus as
//! a desktop's tray does. Bob is `homeline-cli`, answering by himself:
//! - the menu lists alice's favorite, "Dial number from clipboard", Do Not
//!   Disturb, Open and Quit;
//! - one click on the favorite calls bob, and the menu turns into the call's
//!   (who, Mute, Hang up); Hang up ends bob's call;
//! - Do Not Disturb is ticked in the menu once clicked;
//! - Open Homeline brings the window back after it was closed;
//! - Quit Homeline ends the app.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod app_home;

use std::process::Command;
use std::time::{Duration, Instant};

use app_home::AliceHome;
use homeline_store::{ContactInput, PhoneNumber};
use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::tray_host::{self, MenuLine, TrayHost};
use homeline_tests::services::desktop::{self, window_shown};
use homeline_tests::{require_program, wait_until};

const ALICE_PASSWORD: &str = "alice-tray-secret-4471";
const BOB_PASSWORD: &str = "bob-tray-secret-2290";
const WAIT: Duration = Duration::from_secs(20);

/// The window's process (`homeline-window`), if one runs.
fn window_process() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "homeline-window") && exe.starts_with(homeline_tests::built_binary("homeline").parent().unwrap()))
    })
}

/// The menu once `want` accepts it (the app rebuilds it as things change).
fn wait_menu(tray: &TrayHost, item: &(String, String), what: &str, want: impl Fn(&[MenuLine]) -> bool) -> Vec<MenuLine> {
    let deadline = Instant::now() + WAIT;
    let mut last = Err(zbus::Error::Failure("not read yet".into()));
    while Instant::now() < deadline {
        last = tray.menu(item);
        if last.as_ref().is_ok_and(|lines| want(lines)) {
            return last.unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the tray menu never showed {what}; it shows {last:#?}");
}

fn line<'a>(lines: &'a [MenuLine], label: &str) -> Option<&'a MenuLine> {
    lines.iter().find(|l| l.label == label)
}

/// Click `label` as a user would. When the app rebuilt the menu between the
/// read and the click (the clicked id is gone), read it again and click the
/// same line once more, as a user reopens a menu that changed under them.
fn click(tray: &TrayHost, item: &(String, String), lines: &[MenuLine], label: &str) {
    let mut lines = lines.to_vec();
    for _ in 0..5 {
        let target = line(&lines, label).unwrap_or_else(|| panic!("no \"{label}\" in the tray menu: {lines:#?}"));
        assert!(target.enabled, "\"{label}\" is greyed out: {target:?}");
        match tray.click(item, target.id) {
            Ok(()) => return,
            Err(e) if e.to_string().contains("does not refer to a menu item") => {
                lines = wait_menu(tray, item, label, |lines| line(lines, label).is_some());
            }
            Err(e) => panic!("clicking \"{label}\" in the tray: {e}"),
        }
    }
    panic!("the tray menu kept changing under a click on \"{label}\"");
}

#[test]
fn the_tray_menu_calls_a_favorite_hangs_up_sets_do_not_disturb_opens_the_window_and_quits() {
    require_program("xdotool", "xdotool").unwrap_or_else(|e| panic!("{e}"));
    let setup = AliceHome::start(ALICE_PASSWORD, BOB_PASSWORD);
    let k = &setup.kamailio;
    // alice's account and her favorite, saved as the app saves them.
    setup.save_alice(ALICE_PASSWORD, WAIT, |engine| {
        let bob = ContactInput {
            name: "Bob Stone".into(),
            organization: None,
            email: None,
            numbers: vec![PhoneNumber { label: "work".into(), number: "bob".into() }],
            favorite: true,
        };
        engine.save_contact(None, bob).expect("save Bob Stone as a favorite");
    });

    let tray = tray_host::start(setup.secret_service.bus_address()).expect("tray host on the test bus");
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let mut bob_cmd = Command::new(homeline_tests::built_binary("homeline-cli"));
    bob_cmd.args(phone_args(k, "bob")).args(["--loopback", "--auto-answer", "--for", "120"]);
    let bob = CliPhone::spawn(bob_cmd, BOB_PASSWORD).expect("start homeline-cli");
    bob.expect("bob registered", |v| registration_is(v, "registered"));

    let logs = tempfile::tempdir().expect("temp dir");
    let log = logs.path().join("app.log");
    let mut app = setup.launch_in_tray(xvfb.display(), &log, WAIT);
    let item = tray.item(WAIT).unwrap_or_else(|| panic!("the app's icon never registered with the tray\n{}", app.log_tail(30)));

    // ---- What the menu offers ---------------------------------------------------
    let menu = wait_menu(&tray, &item, "alice's favorite", |lines| line(lines, "★ Bob Stone").is_some());
    let labels: Vec<&str> = menu.iter().filter(|l| !l.separator).map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Favorites", "★ Bob Stone", "Dial number from clipboard", "Do Not Disturb", "Open Homeline", "Quit Homeline"],
        "{menu:#?}"
    );
    assert!(!line(&menu, "Favorites").unwrap().enabled, "a heading is not clickable: {menu:#?}");
    assert_eq!(line(&menu, "Do Not Disturb").unwrap().checked, Some(false), "Do Not Disturb starts off: {menu:#?}");
    assert!(!window_shown(xvfb.display()), "started in the tray, the window showed anyway");

    // ---- One click on the favorite calls bob ------------------------------------
    click(&tray, &item, &menu, "★ Bob Stone");
    let incoming = bob.expect("bob's phone rings", |v| call_state_is(v, "incoming"));
    assert_eq!(incoming["remote"], "alice", "bob sees who calls: {incoming}");
    bob.expect("bob's call connects", |v| call_state_is(v, "active"));
    assert!(wait_until(WAIT, || window_shown(xvfb.display())), "dialing from the tray shows the window with the call");
    let in_call = wait_menu(&tray, &item, "the call, with Hang up", |lines| line(lines, "Hang up").is_some());
    assert!(in_call[0].label.starts_with("In a call with "), "the call comes first: {in_call:#?}");
    assert!(line(&in_call, "Mute").is_some(), "{in_call:#?}");
    click(&tray, &item, &in_call, "Hang up");
    let ended = bob.expect("bob's call ends", |v| call_state_is(v, "ended"));
    assert_eq!(ended["by"], "remote", "alice hung up from the tray: {ended}");

    // ---- Do Not Disturb --------------------------------------------------------------
    let idle = wait_menu(&tray, &item, "the menu without the call, bob under Recent", |lines| {
        line(lines, "Hang up").is_none() && line(lines, "Recent").is_some() && lines.iter().any(|l| l.label.contains("Bob Stone") && !l.label.starts_with('★'))
    });
    click(&tray, &item, &idle, "Do Not Disturb");
    wait_menu(&tray, &item, "Do Not Disturb ticked", |lines| line(lines, "Do Not Disturb").is_some_and(|l| l.checked == Some(true)));

    // ---- Open Homeline, after the window was closed --------------------------------
    let window = window_process().expect("the window's process runs");
    let _ = Command::new("kill").arg(window.to_string()).status();
    assert!(wait_until(WAIT, || !window_shown(xvfb.display())), "the window did not close");
    let menu = wait_menu(&tray, &item, "Open Homeline", |lines| line(lines, "Open Homeline").is_some());
    click(&tray, &item, &menu, "Open Homeline");
    assert!(wait_until(WAIT, || window_shown(xvfb.display())), "Open Homeline did not show the window\n{}", app.log_tail(30));

    // ---- Quit Homeline ---------------------------------------------------------------------
    let menu = wait_menu(&tray, &item, "Quit Homeline", |lines| line(lines, "Quit Homeline").is_some());
    click(&tray, &item, &menu, "Quit Homeline");
    assert!(wait_until(WAIT, || !app.is_running()), "Quit Homeline did not end the app\n{}", app.log_tail(30));
    assert!(wait_until(WAIT, || window_process().is_none()), "the window's process outlived the app");
}
