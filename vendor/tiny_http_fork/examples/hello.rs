//! The bare tiny_http hello world, as in tiny_http's README: one thread answers every request
//! with "hello world". `make bench` runs it beside a `main.js` that only answers "ok", so the
//! cost of running a script at all comes out as a ratio. Prints its port on stdout.
//!
//! `cargo build --release -p tiny_http_fork --example hello && target/release/examples/hello`

fn main() {
    let server = tiny_http_fork::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
    println!("listening on http://{}", server.server_addr());
    for request in server.incoming_requests().flatten() {
        let _ = request.respond(tiny_http_fork::Response::from_string("hello world"));
    }
}
