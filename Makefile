# cc-server — the two commands a newcomer needs are `make run` and `make test`.
CARGO ?= cargo

.PHONY: run build release test lint fmt fuzz soak bench bench-stats clean

run:            ## build and start the server (port 4698, domain localhost, data in ~/.config/cc)
	$(CARGO) run --release --locked -- serve

build:
	$(CARGO) build --locked

release:        ## the optimised, stripped binary: target/release/cc-server
	$(CARGO) build --release --locked

test:           ## unit tests and integration tests against the real binary
	$(CARGO) test --locked
	$(CARGO) test --locked -p tiny_http_fork --lib   # the vendored HTTP layer's own unit tests

fuzz:           ## the property tests with many random inputs each (PROPTEST_CASES, default 100000)
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} $(CARGO) test --locked --lib properties
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} $(CARGO) test --locked -p tiny_http_fork --lib head::tests

soak: release   ## 10 minutes of mixed load; RSS, threads, open files and errors each minute (SOAK_MINUTES)
	python3 bench/soak.py

lint:           ## formatting and clippy, warnings are errors
	$(CARGO) fmt -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

bench: release  ## wrk load tests of the release binary against nginx and Node.js in the same run
	bash bench/run.sh
	bash bench/js.sh
	bash bench/hosting.sh
	bash bench/tls.sh

bench-stats:    ## analytics roll-up and summary timings over 1M seeded events (release build)
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	python3 bench/seed_events.py "$$d/cc.db" && \
	CC_BENCH_DB="$$d/cc.db" $(CARGO) test --release --locked --lib \
	  dashboard::analytics_bench::bench_on_a_seeded_database -- --ignored --nocapture
	$(CARGO) build --release --locked
	bash bench/analytics_page.sh

clean:
	$(CARGO) clean
