// The JS side of main.js's globals, evaluated once in each site's context.
// Native helpers (__cc_*) are bound by src/js/engine.rs; everything a script sees is built here.
(function () {
  "use strict";
  const g = globalThis;
  const text = (v) => (typeof v === "string" ? v : v === undefined ? "undefined" : JSON.stringify(v));

  g.db = Object.freeze({
    get(key) {
      const stored = __cc_db_get(String(key));
      return stored === null ? null : JSON.parse(stored);
    },
    set(key, value) {
      if (value === undefined) throw new TypeError("db.set: value is undefined (use db.delete to remove a key)");
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError("db.set: value has no JSON form (a function or a symbol?)");
      __cc_db_set(String(key), json);
    },
    delete(key) {
      __cc_db_delete(String(key));
    },
    list(prefix) {
      return __cc_db_list(prefix === undefined ? "" : String(prefix));
    },
  });

  const log = (level) => (...args) => __cc_log(level, args.map(text).join(" "));
  g.console = Object.freeze({ log: log("log"), info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") });

  g.fetch = function (url, options) {
    return new Promise((resolve, reject) => {
      let reply;
      try {
        reply = JSON.parse(__cc_fetch(String(url), JSON.stringify(options || {})));
      } catch (e) {
        reject(e);
        return;
      }
      const headers = Object.freeze({
        get: (name) => {
          const v = reply.headers[String(name).toLowerCase()];
          return v === undefined ? null : v;
        },
        has: (name) => String(name).toLowerCase() in reply.headers,
        entries: () => Object.entries(reply.headers),
      });
      resolve(Object.freeze({
        status: reply.status,
        ok: reply.status >= 200 && reply.status < 300,
        url: reply.url,
        headers,
        text: async () => reply.body,
        json: async () => JSON.parse(reply.body),
      }));
    });
  };

  // The running request's state. `res`, `socket` and `process` are made once per context and
  // read it: a run builds only its own `req` and answer, which keeps a cheap script cheap.
  let cur = null;
  const constant = (name, value) =>
    Object.defineProperty(g, name, { value, writable: false, enumerable: false, configurable: false });

  // Handlers a module main.js registers at its top level, which runs once, not per request.
  const moduleHandlers = {};

  g.__cc_dispatch = function () {
    const ev = cur.event;
    const handler = ev && (cur.handlers[ev.type] || moduleHandlers[ev.type]);
    cur.out.handled = typeof handler === "function";
    return cur.out.handled ? handler(ev.data, Object.freeze(ev.client)) : undefined;
  };

  const res = Object.freeze({
    status(code) {
      cur.out.status = Number(code) | 0;
      return res;
    },
    header(name, value) {
      cur.out.headers[String(name).toLowerCase()] = String(value);
      return res;
    },
    send(body) {
      cur.out.body = body === undefined ? "" : text(body);
      cur.out.done = true;
      return res;
    },
    json(value) {
      const out = cur.out;
      if (!("content-type" in out.headers)) out.headers["content-type"] = "application/json";
      out.body = JSON.stringify(value === undefined ? null : value);
      out.done = true;
      return res;
    },
    redirect(url, code) {
      const out = cur.out;
      out.status = code === undefined ? 302 : Number(code) | 0;
      out.headers["location"] = String(url);
      out.body = "";
      out.done = true;
      return res;
    },
  });
  constant("res", res);
  constant("process", Object.freeze({
    get env() {
      return cur.env;
    },
  }));
  constant("socket", Object.freeze({
    broadcast(message) {
      __cc_broadcast(text(message));
    },
    clients() {
      return cur.clients;
    },
    on(type, fn) {
      if (typeof fn !== "function") throw new TypeError("socket.on: the handler must be a function");
      (cur ? cur.handlers : moduleHandlers)[String(type)] = fn;
    },
  }));
  const requestMethods = Object.freeze({
    json() {
      return JSON.parse(this.body);
    },
  });

  // Called before each run with the request the server sent; returns the answer object the
  // engine reads back after the run.
  g.__cc_setup = function (incoming) {
    const req = Object.create(requestMethods);
    req.method = incoming.method;
    req.path = incoming.path;
    req.query = Object.freeze(incoming.query);
    req.headers = Object.freeze(incoming.headers);
    req.body = incoming.body;
    req.ip = incoming.ip;
    cur = {
      out: { status: 200, headers: {}, body: "", done: false, handled: false },
      env: Object.freeze(incoming.env),
      clients: incoming.clients,
      event: incoming.event || null,
      handlers: {},
    };
    g.req = Object.freeze(req);
    return cur.out;
  };
})();
