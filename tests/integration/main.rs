//! Integration tests: every test starts the real `cc-server` binary on port 0 with a fresh data
//! dir and talks HTTP to it.
