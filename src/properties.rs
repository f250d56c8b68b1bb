//! Property tests of the pure functions that read untrusted input — the Host router, request
//! paths, zip entry names, Range headers, the script worker's frames, names and domains: for
//! random inputs none panics, and each keeps its promise. `make test` runs 256 cases each;
//! `make fuzz` many more (`PROPTEST_CASES`). Test-only.

use std::path::Component;

use proptest::prelude::*;

use crate::deploy::unpack::safe_entry_path;
use crate::js::protocol::{read_frame, write_frame};
use crate::names::{is_host_name, is_valid_site_name, normalise_domain};
use crate::router::{Route, route};
use crate::site::files::parse_range;
use crate::site::path::segments;

/// A valid site name: a DNS label.
const SITE: &str = "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?";

proptest! {
    #[test]
    fn any_host_routes_without_panic(host in "\\PC{0,100}") {
        let _ = route(Some(&host), "cc.lan");
    }

    #[test]
    fn a_sites_host_routes_to_it_in_any_spelling(site in SITE, port in 1u16.., upper in any::<bool>()) {
        prop_assume!(is_valid_site_name(&site));
        let mut host = format!("{site}.cc.lan.:{port}");
        if upper {
            host = host.to_ascii_uppercase();
        }
        prop_assert_eq!(route(Some(&host), "cc.lan"), Route::Site(site));
    }

    #[test]
    fn request_paths_never_yield_a_segment_that_climbs_or_hides(path in "/\\PC{0,60}") {
        if let Ok(Some(segs)) = segments(&path) {
            for s in segs {
                prop_assert!(!s.is_empty() && s != "." && s != "..", "{:?}", s);
                prop_assert!(!s.contains('/') && !s.contains('\\') && !s.starts_with('.'), "{:?}", s);
                prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
            }
        }
    }

    #[test]
    fn percent_encoded_paths_are_checked_after_decoding(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let encoded: String = raw.iter().map(|b| format!("%{b:02X}")).collect();
        if let Ok(Some(segs)) = segments(&format!("/{encoded}")) {
            prop_assert!(segs.iter().all(|s| s != ".." && !s.contains('/') && !s.contains('\0')));
        }
    }

    #[test]
    fn zip_entry_names_stay_inside_the_site(name in "\\PC{0,60}", tricky in "(\\.\\./|/|\\\\|C:|\\./)*[a-z./\\\\]{0,20}") {
        for name in [name, tricky] {
            if let Ok(path) = safe_entry_path(&name) {
                prop_assert!(path.is_relative(), "{:?}", path);
                prop_assert!(
                    path.components().all(|c| matches!(c, Component::Normal(_))),
                    "{:?} from {:?}", path, name
                );
            }
        }
    }

    #[test]
    fn a_range_is_inside_the_file(header in "(bytes=)?[0-9 -]{0,12}|bytes=\\PC{0,12}", len in 0u64..1_000_000) {
        if let Some(Ok((start, end))) = parse_range(&header, len) {
            prop_assert!(start <= end && end < len, "{} of {}: {}-{}", header, len, start, end);
        }
    }

    #[test]
    fn frames_round_trip_and_junk_is_refused_not_panicked(text in "\\PC{0,200}", junk in proptest::collection::vec(any::<u8>(), 0..64)) {
        let value = serde_json::json!({ "body": text, "n": [1, 2] });
        let mut buf = Vec::new();
        write_frame(&mut buf, &value).unwrap();
        prop_assert_eq!(read_frame(&mut &buf[..]).unwrap(), Some(value));
        let _ = read_frame(&mut &junk[..]);
    }

    #[test]
    fn a_normalised_domain_is_a_host_name(input in "\\PC{0,60}") {
        if let Ok(domain) = normalise_domain(&input) {
            prop_assert!(is_host_name(&domain), "{:?} from {:?}", domain, input);
        }
    }
}
