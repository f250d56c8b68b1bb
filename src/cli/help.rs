//! The help texts, word for word what `--help` prints for each command. Text only: never
//! parses or runs anything (`args` picks the text, `run` prints it).

pub(super) const HELP: &str = "\
cc-server — Command Center, a personal cloud in one binary

Every folder in <data-dir>/sites/<name>/ is a website at http://<name>.<domain>:<port>/;
the dashboard is at http://<domain>:<port>/.

USAGE:
    cc-server [serve] [OPTIONS]      start the server (the default command)
    cc-server <command> --help       help for one command

COMMANDS:
    serve                            run the web server
    deploy <site> [--dir .]          zip a folder and publish it as <site>
    sites                            list the sites your token may manage
    rollback <site>                  go back to the previous deployment
    teardown <site>                  delete a site
    keys create --name NAME [--scope SCOPE]...
                                     make a deploy key (on the server's machine)
    keys list | keys revoke ID       list or revoke deploy keys
    passwd                           set the dashboard's admin password (on the server's machine)
    protect <site> --user NAME | --off
                                     password-protect a site, or make it public again
    domains list | add <site> <host> | remove <site> <host>
                                     the other host names a site answers for
    backup <file> [--force]          copy cc.db to <file>, also while the server runs
    ca                               print the private CA of --https internal (to install
                                     on your devices) and its fingerprint
    certs                            list the HTTPS certificates: names, issuer, expiry
    service install | uninstall | status | unit
                                     run as a hardened systemd service (as root)

OPTIONS:
    -h, --help       print this help
    -V, --version    print the version
";

pub(super) const SERVE_HELP: &str = "\
cc-server serve — run the web server

USAGE:
    cc-server [serve] [OPTIONS]

OPTIONS (each also read from the environment variable shown; a flag wins):
    --port <PORT>            port to listen on, 0 picks a free one   [CC_PORT, default 4698;
                                                                      80 with --https]
    --bind <ADDR>            address to listen on                    [CC_BIND, default 0.0.0.0]
    --domain <DOMAIN>        sites are served at <site>.<DOMAIN>     [CC_DOMAIN, default localhost]
    --data-dir <DIR>         where cc.db and sites/ live             [CC_DATA_DIR, default ~/.config/cc]
    --workers <N>            request-handling threads                [CC_WORKERS, default 2 per core, min 4]
    --max-connections <N>    open connections at once                [CC_MAX_CONNECTIONS, default 16384]
    --max-per-address <N>    open connections per client address     [CC_MAX_PER_ADDRESS, default 256]
    --io-timeout <SECS>      a stalled read or write, or an idle
                             keep-alive connection, is closed after  [CC_IO_TIMEOUT, default 15]
    --head-timeout <SECS>    a request's headers must arrive within  [CC_HEAD_TIMEOUT, default 20]
    --max-upload-mb <N>      largest deploy upload                   [CC_MAX_UPLOAD_MB, default 100]
    --max-unpacked-mb <N>    largest unpacked deploy                 [CC_MAX_UNPACKED_MB, default 500]
    --max-files <N>          most files in one deploy                [CC_MAX_FILES, default 20000]
    --max-site-mb <N>        disk per site at a deploy: the new files,
                             the live ones kept, its db data         [CC_MAX_SITE_MB, default 1024]
    --js-workers <N>         main.js worker processes                [CC_JS_WORKERS, default 3]
    --script-timeout-ms <MS> run time per main.js request            [CC_SCRIPT_TIMEOUT_MS, default 100]
    --script-memory-mb <MB>  address space per script worker         [CC_SCRIPT_MEMORY_MB, default 512]
    --max-keys <N>           db keys per site                        [CC_MAX_KEYS, default 10000]
    --max-ws-per-site <N>    WebSocket clients per site              [CC_MAX_WS_PER_SITE, default 256]
    --max-ws-per-address <N> of them from one address (IPv6: a /64) [CC_MAX_WS_PER_ADDRESS, default 32]
    --max-ws <N>             WebSocket clients in all                [CC_MAX_WS, default 4096]
    --fetch-deny-private     main.js fetch() may not reach loopback or
                             private addresses                       [CC_FETCH_DENY_PRIVATE=1]
    --trusted-proxy <IP>     believe X-Forwarded-Proto/-For from this
                             reverse proxy (HTTPS → Secure cookie)   [CC_TRUSTED_PROXY]
    --retention-days <N>     keep raw analytics events this long;
                             daily totals stay forever, 0 keeps all  [CC_RETENTION_DAYS, default 180]
    --backups <N>            daily copies of cc.db kept in
                             <data-dir>/backups/, 0 turns them off   [CC_BACKUPS, default 5]
    --https <MODE>           serve HTTPS too: 'acme' (certificates from
                             Let's Encrypt; plain HTTP then redirects),
                             'internal' (a private CA: `cc-server ca`)
                             or 'off'                                [CC_HTTPS, default off]
    --https-port <PORT>      HTTPS port, 0 picks a free one          [CC_HTTPS_PORT, default 443]
    --email <ADDR>           ACME account contact (expiry notices)   [CC_ACME_EMAIL]
    --acme-directory <URL>   ACME directory; 'staging' for Let's
                             Encrypt's staging                       [CC_ACME_DIRECTORY, default
                                                                      Let's Encrypt]
    --acme-ca-root <FILE>    trust this PEM root for the ACME
                             directory's HTTPS (a test CA)           [CC_ACME_CA_ROOT]
    -h, --help               print this help

On start the server prints 'listening on http://<bind>:<port>' (and 'listening on
https://<bind>:<port>' with --https). It stops cleanly on
Ctrl-C or SIGTERM: in-flight requests finish and analytics are written first.

The first start without an admin password takes CC_ADMIN_PASSWORD as the password, or
prints a one-time setup link (http://<domain>:<port>/setup?token=...) to the log.
";

pub(super) const DEPLOY_HELP: &str = "\
cc-server deploy — zip a folder and publish it as a site

USAGE:
    cc-server deploy <site> [--dir .] [--server URL] [--token TOKEN] [--ca-file FILE] [--yes]

Zips the folder (skipping dot-files, .git, node_modules and what .ccignore lists, in
.gitignore syntax), uploads it, and prints 'Deployment successful: <url>'. The site is
swapped in atomically: visitors see the old site or the new one, never a mix.

OPTIONS:
    --dir <DIR>          the folder to deploy (default: the current folder)
    --server <URL>       the cc-server to deploy to     [CC_SERVER, default http://localhost:4698]
    --token <TOKEN>      a deploy key's token           [CC_TOKEN, then the first line of ~/.cc-token]
    --ca-file <FILE>     trust only this CA over HTTPS  [CC_CA_FILE; for a server with --https
                         internal: 'cc-server ca > cc-ca.crt' there]
    --yes                deploy even an empty folder or your home folder
    -h, --help           print this help
";

pub(super) const REMOTE_HELP: &str = "\
cc-server sites | rollback <site> | teardown <site> — manage sites on a server

USAGE:
    cc-server sites [--server URL] [--token TOKEN]
    cc-server rollback <site> [--server URL] [--token TOKEN]
    cc-server teardown <site> [--keep-data] [--yes] [--server URL] [--token TOKEN]

sites      lists the sites the token may manage: files, size, last deploy, URL.
rollback   swaps the live site with its previous deployment (run it again to undo).
teardown   deletes the site's files and previous deployment, and its key-value data and
           env vars unless --keep-data is given. Asks first on a terminal unless --yes.

OPTIONS:
    --server <URL>       [CC_SERVER, default http://localhost:4698]
    --token <TOKEN>      [CC_TOKEN, then the first line of ~/.cc-token]
    --ca-file <FILE>     trust only this CA over HTTPS (a server's private CA)  [CC_CA_FILE]
";

pub(super) const KEYS_HELP: &str = "\
cc-server keys — deploy keys, managed on the server's own data dir (works over SSH)

USAGE:
    cc-server keys create --name NAME [--scope SCOPE]... [--data-dir DIR]
    cc-server keys list [--data-dir DIR]
    cc-server keys revoke ID [--data-dir DIR]

SCOPES (repeat --scope; default deploy:*):
    deploy:*         deploy, roll back and tear down every site
    deploy:<site>    only that site (e.g. for a friend)
    read:stats       read analytics

'keys create' prints the token alone on its last line; it is shown only once.
Only its SHA-256 is stored. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

pub(super) const CA_HELP: &str = "\
cc-server ca — print the private CA of `--https internal`

USAGE:
    cc-server ca [--data-dir DIR]

Prints the CA certificate (PEM) on standard output and its SHA-256 fingerprint on standard
error. Install it on your devices (the dashboard's Settings page says how for each system)
and they trust this server's HTTPS. The CA is made on the first start with
--https internal. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

pub(super) const CERTS_HELP: &str = "\
cc-server certs — list the HTTPS certificates this server has obtained

USAGE:
    cc-server certs [--data-dir DIR]

One line per host name: issuer, valid until, when it was obtained, and the last renewal
error if any. Certificates are obtained on the first TLS handshake for a name and renewed
at two thirds of their lifetime. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

pub(super) const PASSWD_HELP: &str = "\
cc-server passwd — set the dashboard's admin password, on the server's own data dir

USAGE:
    cc-server passwd [--data-dir DIR]

Asks for the new password twice (it is not shown), or takes it from CC_ADMIN_PASSWORD, or
reads one line from standard input when that is not a terminal. At least 8 characters.
Every dashboard session ends: log in again with the new password. Works while the server
runs. --data-dir defaults to CC_DATA_DIR, then ~/.config/cc.
";

pub(super) const PROTECT_HELP: &str = "\
cc-server protect — password-protect a site (HTTP Basic auth), on the server's own data dir

USAGE:
    cc-server protect <SITE> --user NAME [--data-dir DIR]
    cc-server protect <SITE> --off [--data-dir DIR]

--user adds NAME (or sets a new password for it): the password is asked for twice (not
shown), or read as one line from standard input when that is not a terminal; at least 8
characters. Only its Argon2id hash is kept, in cc.db. The site's files, its main.js and its
WebSocket then ask for a user name and password; the deploy API is not affected. --off
removes every user: the site is public again. A running server applies either within two
seconds. A deployed AUTH file (user:password lines, Surge's convention) does the same.
";

pub(super) const DOMAINS_HELP: &str = "\
cc-server domains — the other host names a site answers for, on the server's own data dir

USAGE:
    cc-server domains list [--data-dir DIR]
    cc-server domains add <SITE> <HOST> [--domain DOMAIN] [--data-dir DIR]
    cc-server domains remove <SITE> <HOST> [--data-dir DIR]

Point HOST (www.example.com) at this server in DNS, then add it: requests for it are the
site's, counted in its analytics. One host belongs to one site; the dashboard's names and
<site>.<DOMAIN> names cannot be claimed (--domain defaults to CC_DOMAIN, then localhost).
A deployed CNAME file (one host name, Surge's convention) does the same. A running server
applies changes within two seconds.
";

pub(super) const BACKUP_HELP: &str = "\
cc-server backup — a consistent copy of cc.db, taken while the server runs

USAGE:
    cc-server backup <FILE> [--force] [--data-dir DIR]

Copies <data-dir>/cc.db (analytics, deploy keys, every site's db data and env vars,
settings) with SQLite's online backup API: the server keeps serving and writing, and
the copy is the database as it was at one moment. The copy is written beside <FILE>
under a temporary name, checked with PRAGMA integrity_check, and renamed to <FILE>
(mode 0600) only when complete. Site files are not in cc.db: archive <data-dir>/sites
(and deploy/previous) with tar.

OPTIONS:
    --force              replace <FILE> if it exists (otherwise: refuse, exit 1)
    --data-dir <DIR>     the server's data dir    [CC_DATA_DIR, default ~/.config/cc]
    -h, --help           print this help

TO RESTORE: stop the server, copy the file over <data-dir>/cc.db, delete
<data-dir>/cc.db-wal and <data-dir>/cc.db-shm if they exist, start the server.
";

pub(super) const SERVICE_HELP: &str = "\
cc-server service — run cc-server as a hardened systemd service

USAGE:
    sudo cc-server service install [OPTIONS]    make the user and the data dir, write
                                                /etc/systemd/system/cc-server.service,
                                                enable it and start it now
    sudo cc-server service uninstall            stop and disable it and remove the unit
                                                (the data dir and the user stay)
    cc-server service status                    systemctl status cc-server
    cc-server service unit [OPTIONS]            print the unit install would write

OPTIONS (install and unit):
    --user <NAME>        the system user the server runs as       [default cc]
    --data-dir <DIR>     the service's data dir                   [default /var/lib/cc]
    --domain <DOMAIN>    sites are served at <site>.<DOMAIN>      [default localhost]
    --port <PORT>        port to listen on (below 1024 adds only  [default 4698; 80
                         CAP_NET_BIND_SERVICE)                     with --https]
    --https <MODE>       acme or internal: HTTPS on --https-port  [default off]
    --https-port <PORT>  the HTTPS port                           [default 443]
    --email <ADDR>       the ACME account's contact (acme only)

The unit runs the binary where it is now (copy it to /usr/local/bin first), as Type=notify with
a 30 s watchdog, with systemd's sandboxing: no new privileges, a read-only system except the
data dir, no home folders, private /tmp and devices, a system-call filter. The admin password
goes in /etc/cc-server.env (root only), never in the unit: see the README.
";
