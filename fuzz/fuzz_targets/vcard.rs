#![no_main]
//! Any bytes as a vCard file (an import the user picked): parse without
//! panicking; every contact read passes the store's checks (an import is all
//! or nothing); whatever parses is written again and that text parses to as
//! many contacts, in both versions we write.

use homeline_store::vcard::{parse, serialize};
use homeline_store::VcardVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The UI hands the file over as text (a lossy read, like File.text()).
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parse(&text) else {
        return;
    };
    // An import adds every card or none: each must pass the store's checks.
    for contact in &parsed.contacts {
        if let Err(e) = contact.clone().validated() {
            panic!("parsed a contact the store refuses ({e}): {contact:?}");
        }
    }
    for version in [VcardVersion::V3, VcardVersion::V4] {
        let written = serialize(&parsed.contacts, version);
        match parse(&written) {
            Ok(again) => assert_eq!(again.contacts.len(), parsed.contacts.len(), "{version:?} export lost contacts:\n{written}"),
            Err(e) if parsed.contacts.is_empty() => assert_eq!(e, homeline_store::VcardError::NoCards),
            Err(e) => panic!("{version:?} export does not parse ({e}):\n{written}"),
        }
    }
});
