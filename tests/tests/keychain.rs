//! Proof that the Secret Service harness is real: a secret stored through
//! Homeline's keychain (the `keyring` crate) is read back from outside with
//! `secret-tool`, and deleted. One test per binary: the D-Bus address is
//! process-wide and `keyring` connects once.

use homeline_store::{Keychain, SecretBackend};
use homeline_tests::services::secrets;

#[test]
fn secret_is_stored_in_the_real_keychain_read_by_secret_tool_and_deleted() {
    let service = secrets::start().expect("D-Bus session with gnome-keyring");
    for (k, v) in service.env() {
        std::env::set_var(k, v);
    }
    let keychain = Keychain::open();
    assert_eq!(keychain.backend(), SecretBackend::Os, "Homeline fell back to memory although a Secret Service runs");

    let account = "alice@pbx.homeline.test";
    let secret = "correct horse battery staple";
    keychain.set(account, secret).expect("store the secret");

    let outside = service
        .lookup(&[("service", homeline_store::keychain::SERVICE), ("username", account)])
        .expect("run secret-tool");
    assert_eq!(outside.as_deref(), Some(secret), "secret-tool does not see the secret Homeline stored");
    assert_eq!(keychain.get(account).expect("read back").as_deref(), Some(secret));

    keychain.delete(account).expect("delete the secret");
    assert_eq!(keychain.get(account).expect("read after delete"), None);
    let outside = service
        .lookup(&[("service", homeline_store::keychain::SERVICE), ("username", account)])
        .expect("run secret-tool");
    assert_eq!(outside, None, "the secret is still in the keychain after delete");
}
