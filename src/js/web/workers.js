// Part of web.js, the one script src/js/web.rs evaluates: see web/base.js for its start.
  // ---- crypto --------------------------------------------------------------------------------
  const INT_ARRAYS = { Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 1, Uint16Array: 1, Int32Array: 1, Uint32Array: 1, BigInt64Array: 1, BigUint64Array: 1 };
  const HASHES = { "SHA-1": [20, 64], "SHA-256": [32, 64], "SHA-384": [48, 128], "SHA-512": [64, 128] };
  const JWK_ALG = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };
  let hex = null;
  const toHex = (bytes, i, j) => {
    if (hex === null) {
      hex = [];
      for (let k = 0; k < 256; k++) hex.push((k < 16 ? "0" : "") + k.toString(16));
    }
    let s = "";
    for (; i < j; i++) s += hex[bytes[i]];
    return s;
  };
  function algName(alg, op) {
    const name = typeof alg === "string" ? alg : alg !== null && typeof alg === "object" && alg.name !== undefined ? String(alg.name) : undefined;
    if (name === undefined) throw new TypeError("crypto.subtle." + op + ": the algorithm must be a name or an object with a name");
    return name;
  }
  const unsupported = (name, op, supported) =>
    domError("crypto.subtle." + op + ": unrecognized or unsupported algorithm " + quote(name) + " (supported: " + supported + ")", "NotSupportedError");
  function hashName(alg, op) {
    const name = algName(alg, op), up = name.toUpperCase();
    if (HASHES[up] === undefined) throw unsupported(name, op, "SHA-1, SHA-256, SHA-384, SHA-512");
    return up;
  }
  function hmacAlg(alg, op) {
    const name = algName(alg, op);
    if (name.toUpperCase() !== "HMAC") throw unsupported(name, op, "HMAC");
    return alg;
  }
  function sourceBytes(data, what) {
    if (!isBuffer(data)) throw new TypeError(what + " must be an ArrayBuffer or an ArrayBufferView (a typed array, a DataView); for text use new TextEncoder().encode(text)");
    return toU8(data);
  }
  // What the natives take: an ArrayBuffer of exactly these bytes (read in Rust at once; an
  // Array of numbers cost ~0.4 ms a KiB).
  const arrayOf = (u8) => u8.slice().buffer;
  const resultBuffer = (arr) => new Uint8Array(arr).buffer;
  const CK = Symbol("key");
  const CryptoKey_ = class CryptoKey {
    constructor(key) {
      if (key !== KEY) throw new TypeError("Illegal constructor: use crypto.subtle.importKey or generateKey");
    }
    get type() {
      return "secret";
    }
    get extractable() {
      return this[CK].extractable;
    }
    get algorithm() {
      const a = this[CK];
      return { name: "HMAC", hash: { name: a.hash }, length: a.length };
    }
    get usages() {
      return this[CK].usages.slice();
    }
    [INSPECT]() {
      return { type: this.type, extractable: this.extractable, algorithm: this.algorithm, usages: this.usages };
    }
  };
  tag(CryptoKey_, "CryptoKey");
  def("CryptoKey", CryptoKey_);
  function hmacKey(bytes, alg, extractable, usages, op) {
    if (alg.hash === undefined) throw new TypeError("crypto.subtle." + op + ": HMAC needs a hash, e.g. {name: 'HMAC', hash: 'SHA-256'}");
    const hash = hashName(alg.hash, op);
    const list = Array.from(usages === undefined ? [] : usages, String);
    for (const u of list) if (u !== "sign" && u !== "verify") throw domError("crypto.subtle." + op + ": an HMAC key can only be used to sign and verify, not " + quote(u), "SyntaxError");
    if (list.length === 0) throw domError("crypto.subtle." + op + ": the key usages must not be empty", "SyntaxError");
    let length = bytes.length * 8;
    if (alg.length !== undefined) {
      const n = Number(alg.length);
      if (!(n > length - 8 && n <= length)) throw domError("crypto.subtle." + op + ": the HMAC length does not match the key", "DataError");
      length = n;
    }
    if (bytes.length === 0) throw domError("crypto.subtle." + op + ": an HMAC key must not be empty", "DataError");
    const k = new CryptoKey_(KEY);
    k[CK] = { hash, length, extractable: !!extractable, usages: list, bytes: arrayOf(bytes) };
    return k;
  }
  function usableKey(key, usage, op) {
    if (!(key instanceof CryptoKey_)) throw new TypeError("crypto.subtle." + op + ": the key must be a CryptoKey");
    if (key[CK].usages.indexOf(usage) < 0) throw domError("crypto.subtle." + op + ": the key's usages do not include " + quote(usage), "InvalidAccessError");
    return key[CK];
  }
  const base64url = (u8) => toBase64(u8).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const fromBase64url = (s) => {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return fromBase64(s);
  };
  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }
  const NONE = "none: crypto.subtle here has digest (SHA-1/256/384/512) and HMAC keys, sign and verify";
  const rejectUnsupported = (op) =>
    async function (alg) {
      throw unsupported(algName(alg, op), op, NONE);
    };
  const subtle = Object.freeze({
    async digest(alg, data) {
      const hash = hashName(alg, "digest");
      return resultBuffer(__cc_digest(hash, arrayOf(sourceBytes(data, "crypto.subtle.digest: the data"))));
    },
    async importKey(format, keyData, alg, extractable, usages) {
      const name = algName(alg, "importKey");
      if (name.toUpperCase() !== "HMAC") throw unsupported(name, "importKey", "HMAC");
      if (format === "raw") return hmacKey(sourceBytes(keyData, "crypto.subtle.importKey: the key data").slice(), alg, extractable, usages, "importKey");
      if (format === "jwk") {
        if (keyData === null || typeof keyData !== "object" || keyData.kty !== "oct" || typeof keyData.k !== "string")
          throw domError("crypto.subtle.importKey: an HMAC JWK needs kty 'oct' and k", "DataError");
        return hmacKey(fromBase64url(keyData.k), alg, extractable, usages, "importKey");
      }
      throw domError("crypto.subtle.importKey: format " + quote(String(format)) + " is not supported for HMAC (raw or jwk)", "NotSupportedError");
    },
    async exportKey(format, key) {
      if (!(key instanceof CryptoKey_)) throw new TypeError("crypto.subtle.exportKey: the key must be a CryptoKey");
      const k = key[CK];
      if (!k.extractable) throw domError("crypto.subtle.exportKey: the key is not extractable", "InvalidAccessError");
      if (format === "raw") return resultBuffer(k.bytes);
      if (format === "jwk") return { kty: "oct", k: base64url(new Uint8Array(k.bytes)), alg: JWK_ALG[k.hash], key_ops: k.usages.slice(), ext: true };
      throw domError("crypto.subtle.exportKey: format " + quote(String(format)) + " is not supported for HMAC (raw or jwk)", "NotSupportedError");
    },
    async generateKey(alg, extractable, usages) {
      const name = algName(alg, "generateKey");
      if (name.toUpperCase() !== "HMAC") throw unsupported(name, "generateKey", "HMAC");
      const hash = hashName(alg.hash === undefined ? "" : alg.hash, "generateKey");
      const bits = alg.length === undefined ? HASHES[hash][1] * 8 : Number(alg.length);
      if (!(bits > 0 && bits <= 65536 * 8)) throw domError("crypto.subtle.generateKey: bad HMAC key length", "OperationError");
      const bytes = new Uint8Array(__cc_random_bytes(Math.ceil(bits / 8)));
      return hmacKey(bytes, alg.length === undefined ? alg : { name, hash: alg.hash, length: bits }, extractable, usages, "generateKey");
    },
    async sign(alg, key, data) {
      hmacAlg(alg, "sign");
      const k = usableKey(key, "sign", "sign");
      return resultBuffer(__cc_hmac(k.hash, k.bytes, arrayOf(sourceBytes(data, "crypto.subtle.sign: the data"))));
    },
    async verify(alg, key, signature, data) {
      hmacAlg(alg, "verify");
      const k = usableKey(key, "verify", "verify");
      const sig = sourceBytes(signature, "crypto.subtle.verify: the signature");
      const mac = __cc_hmac(k.hash, k.bytes, arrayOf(sourceBytes(data, "crypto.subtle.verify: the data")));
      return equalBytes(mac, sig);
    },
    // Cloudflare's extension: a constant-time comparison of two buffers of the same length.
    timingSafeEqual(a, b) {
      const x = sourceBytes(a, "timingSafeEqual: a"), y = sourceBytes(b, "timingSafeEqual: b");
      if (x.length !== y.length) throw new TypeError("timingSafeEqual: the buffers must have the same length");
      return equalBytes(x, y);
    },
    encrypt: rejectUnsupported("encrypt"),
    decrypt: rejectUnsupported("decrypt"),
    deriveBits: rejectUnsupported("deriveBits"),
    deriveKey: rejectUnsupported("deriveKey"),
    wrapKey: async (format, key, wrappingKey, alg) => {
      throw unsupported(algName(alg, "wrapKey"), "wrapKey", NONE);
    },
    unwrapKey: async (format, wrapped, unwrappingKey, alg) => {
      throw unsupported(algName(alg, "unwrapKey"), "unwrapKey", NONE);
    },
  });
  def("crypto", Object.freeze({
    subtle,
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || INT_ARRAYS[array[Symbol.toStringTag]] !== 1)
        throw domError("crypto.getRandomValues: the argument must be an integer typed array (Uint8Array, Int32Array, …)", "TypeMismatchError");
      const n = array.byteLength;
      if (n > 65536) throw domError("crypto.getRandomValues: the array's byte length (" + n + ") exceeds the 65536 bytes available per call", "QuotaExceededError");
      if (n > 0) new Uint8Array(array.buffer, array.byteOffset, n).set(__cc_random_bytes(n));
      return array;
    },
    randomUUID() {
      const b = __cc_random_bytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      return toHex(b, 0, 4) + "-" + toHex(b, 4, 6) + "-" + toHex(b, 6, 8) + "-" + toHex(b, 8, 10) + "-" + toHex(b, 10, 16);
    },
  }));

  // ---- small extras Workers has --------------------------------------------------------------
  const started = Date.now();
  def("performance", Object.freeze({ timeOrigin: started, now: () => Date.now() - started }));
  def("navigator", Object.freeze({ userAgent: "cc-server" }));
  def("self", g);

  // ---- KV binding over the site's db ---------------------------------------------------------
  // Values are stored as the JSON of a string, so classic db.get(key) reads the same string; bytes
  // that are not UTF-8 are stored as {"__cc_kv_base64": "…"}.
  const BIN = "__cc_kv_base64";
  const kvKey = (key) => {
    const k = String(key);
    if (k === "") throw new TypeError("KV: the key must not be empty");
    return k;
  };
  const isBin = (v) => v !== null && typeof v === "object" && typeof v[BIN] === "string" && Object.keys(v).length === 1;
  function kvType(t) {
    const type = t === undefined || t === null ? "text" : typeof t === "string" ? t : t.type === undefined ? "text" : String(t.type);
    if (type !== "text" && type !== "json" && type !== "arrayBuffer" && type !== "stream")
      throw new TypeError('KV get: type must be "text", "json", "arrayBuffer" or "stream", not ' + quote(type));
    return type;
  }
  function kvRead(key, type) {
    const stored = __cc_db_get(key);
    if (stored === null) return null;
    const c = stored.charCodeAt(0);
    if (type === "text" && c !== 34 && c !== 123) return stored; // a classic number/array/boolean: its JSON text
    const v = JSON.parse(stored);
    const bin = isBin(v) ? fromBase64(v[BIN]) : null;
    switch (type) {
      case "text":
        return typeof v === "string" ? v : bin !== null ? fromUtf8(bin) : stored;
      case "json":
        return typeof v === "string" ? JSON.parse(v) : bin !== null ? JSON.parse(fromUtf8(bin)) : v;
      case "arrayBuffer":
        return bufferOf(bin !== null ? bin : utf8(typeof v === "string" ? v : stored));
      default:
        return new BodyStream({ body: bin !== null ? bin : typeof v === "string" ? v : stored, used: false });
    }
  }
  function kvPut(key, value) {
    let text;
    if (typeof value === "string") text = value;
    else if (value !== null && typeof value === "object" && (isBuffer(value) || value instanceof BodyStream)) {
      const b = value instanceof BodyStream ? takeStream(value) : toU8(value);
      if (b === null || typeof b === "string") text = b === null ? "" : b;
      else if (isUtf8(b)) text = fromUtf8Raw(b);
      else {
        __cc_db_set(key, JSON.stringify({ [BIN]: toBase64(b) }));
        return;
      }
    } else throw new TypeError("KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.");
    __cc_db_set(key, JSON.stringify(text));
  }
  let kv = null;
  function makeKv() {
    return Object.freeze({
      async get(key, options) {
        const type = kvType(options);
        if (Array.isArray(key)) {
          const m = new Map();
          for (const k of key) m.set(String(k), kvRead(kvKey(k), type));
          return m;
        }
        return kvRead(kvKey(key), type);
      },
      async getWithMetadata(key, options) {
        return { value: kvRead(kvKey(key), kvType(options)), metadata: null, cacheStatus: null };
      },
      async put(key, value, options) {
        kvPut(kvKey(key), value);
      },
      async delete(key) {
        __cc_db_delete(kvKey(key));
      },
      async list(options) {
        const o = options === undefined || options === null ? EMPTY : options;
        const all = __cc_db_list(o.prefix === undefined || o.prefix === null ? "" : String(o.prefix));
        let limit = o.limit === undefined || o.limit === null ? 1000 : Math.floor(Number(o.limit));
        if (!(limit >= 1)) limit = 1;
        if (limit > 1000) limit = 1000;
        let start = 0;
        if (o.cursor !== undefined && o.cursor !== null && o.cursor !== "") {
          const cursor = String(o.cursor);
          const i = all.indexOf(cursor);
          if (i >= 0) start = i + 1;
          else while (start < all.length && all[start] <= cursor) start++;
        }
        const end = Math.min(all.length, start + limit);
        const keys = [];
        for (let i = start; i < end; i++) keys.push({ name: all[i] });
        return end >= all.length
          ? { keys, list_complete: true, cacheStatus: null }
          : { keys, list_complete: false, cursor: all[end - 1], cacheStatus: null };
      },
    });
  }

  // ---- __cc_web: what the engine calls -------------------------------------------------------
  const W = Symbol("waits");
  class ExecutionContext {
    constructor(waits) {
      this[W] = waits;
    }
    waitUntil(promise) {
      this[W].push(Promise.resolve(promise));
    }
    passThroughOnException() {}
  }
  function settle(waits) {
    let n = 0;
    const step = () => {
      if (n >= waits.length) return undefined;
      const batch = waits.slice(n);
      n = waits.length;
      return Promise.allSettled(batch).then((results) => {
        for (const r of results) if (r.status === "rejected") reportError("waitUntil", r.reason);
        return step();
      });
    };
    return step();
  }
  function describe(v) {
    if (v === null) return "null";
    if (typeof v !== "object") return typeof v === "string" ? "a string" : typeof v;
    const name = ctorName(v);
    return name ? (/^[AEIOU]/.test(name) ? "an " : "a ") + name : "an object";
  }
  function fill(out, res) {
    if (!(res instanceof Response_)) throw new TypeError("main.js: fetch() must return a Response, got " + describe(res));
    const s = res[S];
    if (s.type === "error") throw new TypeError("main.js: fetch() returned Response.error()");
    if (s.used) throw new TypeError("main.js: the Response's body was already read (return a new Response, or read a clone())");
    out.status = s.status;
    out.headers = plainHeaders(s);
    const b = s.body;
    if (b === null) out.body = "";
    else if (typeof b === "string") out.body = b;
    else {
      out.body = toBase64(b);
      out.base64 = true;
    }
    out.done = true;
  }
  const NO_FETCH = "main.js: export default { fetch(request, env, ctx) { … } }";
  const NO_SCHEDULED = "main.js: export default { scheduled(controller, env, ctx) { … } } to run on a schedule";
  const noRetry = () => {};
  g.__cc_web = Object.freeze({
    // A Request for the engine's incoming request {method, url, headers, body, ip}.
    request(incoming) {
      const r = Object.create(Request_.prototype);
      const body = incoming.body;
      r[S] = {
        method: String(incoming.method),
        url: String(incoming.url),
        headers: null,
        raw: incoming.headers || EMPTY,
        ctype: null,
        imm: true,
        body: body === undefined || body === null || body === "" ? null : String(body),
        used: false,
        stream: null,
        signal: null,
        redirect: "follow",
      };
      return r;
    },
    kv() {
      return kv || (kv = makeKv());
    },
    // The `env` of a run: the site's variables (incoming.env, strings) and its KV binding as DB.
    env(incoming) {
      const vars = incoming && incoming.env, env = {};
      if (vars) for (const k in vars) env[k] = vars[k];
      env.DB = kv || (kv = makeKv());
      return env;
    },
    // Runs handler.fetch(request, env, ctx); fills `out` {status, headers, body, base64?, done}
    // from its Response, then waits for the ctx.waitUntil promises.
    serve(handler, request, env, out) {
      if (handler === null || (typeof handler !== "object" && typeof handler !== "function") || typeof handler.fetch !== "function")
        return Promise.reject(new TypeError(NO_FETCH));
      const waits = [];
      let result;
      try {
        result = handler.fetch(request, env, new ExecutionContext(waits));
        if (result instanceof Response_) {
          fill(out, result);
          return Promise.resolve(settle(waits));
        }
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(result).then((res) => {
        fill(out, res);
        return settle(waits);
      });
    },
    // Runs handler.scheduled({cron, scheduledTime, type: "scheduled"}, env, ctx), then waits for
    // the ctx.waitUntil promises.
    scheduled(handler, event, env) {
      if (handler === null || (typeof handler !== "object" && typeof handler !== "function") || typeof handler.scheduled !== "function")
        return Promise.reject(new TypeError(NO_SCHEDULED));
      const e = event || EMPTY;
      const controller = {
        cron: e.cron === undefined ? "" : String(e.cron),
        scheduledTime: e.scheduledTime === undefined ? Date.now() : Number(e.scheduledTime),
        type: "scheduled",
        noRetry,
      };
      const waits = [];
      let result;
      try {
        result = handler.scheduled(controller, env, new ExecutionContext(waits));
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve(result).then(() => settle(waits));
    },
  });
})();
