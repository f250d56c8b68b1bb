#!/usr/bin/env python3
"""Fills a cc.db with realistic analytics events for the stats benchmark (`make bench-stats`).

    python3 bench/seed_events.py DB [--events 1000000] [--days 90] [--seed 1]

Events are spread over the last DAYS UTC days, today included (today only up to now), with a
weekly rhythm: ~10 domains (a few busy, most quiet), ~200 paths, ~30 referrer hosts, a few
thousand visitors a day, each with a few pageviews. Rows go in in time order, as the server
writes them. If DB has no schema yet, the migrations in src/store/migrations/ are applied the
way cc-server applies them (each in a transaction, then PRAGMA user_version), so the server
and the benchmark accept the file as their own. Stdlib only."""
import argparse, datetime as dt, pathlib, random, sqlite3, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIGRATIONS = sorted((ROOT / "src/store/migrations").glob("*.sql"))

DOMAINS = ["blog", "shop", "docs", "photos", "wiki", "status", "notes", "cv", "game", "example.org"]
DOMAIN_WEIGHTS = [40, 20, 12, 8, 6, 5, 4, 2, 2, 1]
SECTIONS = ["", "/posts", "/tags", "/about", "/products", "/guide", "/api", "/img", "/2025", "/2026"]
SEARCH = ["google.com", "duckduckgo.com", "bing.com", "search.brave.com", "ecosia.org"]
SOCIAL = ["news.ycombinator.com", "lobste.rs", "reddit.com", "old.reddit.com", "mastodon.social",
          "fosstodon.org", "twitter.com", "t.co", "x.com", "linkedin.com", "facebook.com",
          "l.facebook.com", "bsky.app", "youtube.com", "github.com", "gitlab.com",
          "stackoverflow.com", "dev.to", "medium.com", "substack.com", "feedly.com",
          "inoreader.com", "slack.com", "discord.com", "t.me"]
REFERRER_HOSTS = SEARCH + SOCIAL  # 30
UA = ["chrome", "firefox", "safari", "edge", "bot", "curl", "other"]
UA_WEIGHTS = [50, 15, 20, 6, 6, 2, 1]


def migrate(conn):
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for i, path in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.executescript("BEGIN;" + path.read_text() + f";PRAGMA user_version = {i}; COMMIT;")


def site_paths(rng, domain):
    """~20 paths per domain, ~200 in all; index pages first so they get the most views."""
    paths = ["/"] + [f"{s}/" for s in SECTIONS[1:4]]
    while len(paths) < 20:
        paths.append(f"{rng.choice(SECTIONS)}/{domain[:3]}-{len(paths):02d}.html")
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    conn = sqlite3.connect(args.db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn)

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - dt.timedelta(days=d) for d in range(args.days - 1, -1, -1)]
    # Weekdays busier than weekends, slow growth, and today only as far as it has got.
    weights = []
    for i, day in enumerate(days):
        w = (1.0 if day.weekday() < 5 else 0.6) * (0.8 + 0.4 * i / max(1, len(days) - 1))
        if day == today:
            w *= max(0.05, (now - today).total_seconds() / 86_400)
        weights.append(w)
    scale = args.events / sum(weights)
    paths = {d: site_paths(rng, d) for d in DOMAINS}
    path_weights = [1 / (r + 1) for r in range(20)]
    ref_weights = [1 / (r + 1) ** 0.8 for r in range(len(REFERRER_HOSTS))]

    t0 = time.perf_counter()
    total = 0
    conn.execute("BEGIN")
    for i, day in enumerate(days):
        # The last day takes what rounding left over, so the total is exact.
        target = args.events - total if i == len(days) - 1 else round(weights[i] * scale)
        limit = (now - day).total_seconds() if day == today else 86_399
        rows = []
        while len(rows) < target:
            visitor = "%016x" % rng.getrandbits(64)
            domain = rng.choices(DOMAINS, DOMAIN_WEIGHTS)[0]
            ua = rng.choices(UA, UA_WEIGHTS)[0]
            start = rng.uniform(0, max(1, limit - 600))
            # 40 % arrive with no referrer; others from search, social, or another site here.
            r = rng.random()
            if r < 0.4:
                referrer = None
            elif r < 0.9:
                host = rng.choices(REFERRER_HOSTS, ref_weights)[0]
                referrer = f"https://{'www.' if rng.random() < 0.3 else ''}{host}/" + (
                    f"search?q=term{rng.randrange(500)}" if host in SEARCH else f"item/{rng.randrange(10_000)}")
            else:
                referrer = f"https://{rng.choice(DOMAINS)}.example.net/"
            for n in range(min(1 + int(rng.expovariate(1 / 2.7)), 40)):
                path = rng.choices(paths[domain], path_weights)[0]
                if rng.random() < 0.05:
                    path += f"?utm_source=x{rng.randrange(50)}"
                status = 404 if rng.random() < 0.03 else 200
                at = day + dt.timedelta(seconds=min(limit, start + n * rng.uniform(5, 120)))
                source = "web" if domain == "example.org" else "hosting"
                rows.append((at.strftime("%Y-%m-%d %H:%M:%S"), source, domain, path, status,
                             referrer if n == 0 else f"https://{domain}.example.net/", ua, visitor))
                if len(rows) == target:
                    break
        rows.sort(key=lambda row: row[0])
        conn.executemany(
            "INSERT INTO events (created_at, source_type, domain, path, status, referrer, ua_family,"
            " visitor_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        total += len(rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"{total} events over {len(days)} days ({days[0]:%Y-%m-%d} to {today:%Y-%m-%d}) "
          f"into {args.db} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
