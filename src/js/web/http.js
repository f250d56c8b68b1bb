// Part of web.js, the one script src/js/web.rs evaluates: see web/base.js for its start.
  // ---- Headers -------------------------------------------------------------------------------
  const H = Symbol("headers"), IMM = Symbol("immutable");
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const BAD_VALUE = /[\0\r\n]/;
  const EDGE_WS = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  function headerName(name) {
    name = String(name);
    if (!TOKEN.test(name)) throw new TypeError("Invalid header name: " + quote(name));
    return name.toLowerCase();
  }
  function headerValue(value, name) {
    let v = String(value);
    const n = v.length;
    if (n !== 0) {
      const a = v.charCodeAt(0), z = v.charCodeAt(n - 1);
      if (a === 32 || a === 9 || a === 10 || a === 13 || z === 32 || z === 9 || z === 10 || z === 13) v = v.replace(EDGE_WS, "");
      if (BAD_VALUE.test(v)) throw new TypeError("Invalid header value for " + quote(name) + ": it contains CR, LF or NUL");
    }
    return v;
  }
  function appendTo(map, n, v) {
    const cur = map.get(n);
    if (cur === undefined) map.set(n, n === "set-cookie" ? [v] : v);
    else if (typeof cur === "string") map.set(n, cur + ", " + v);
    else cur.push(v);
  }
  function writable(h) {
    if (h[IMM]) throw new TypeError("Can't modify immutable headers.");
    return h[H];
  }
  function sortedPairs(h) {
    const map = h[H], names = Array.from(map.keys()).sort(), out = [];
    for (const n of names) {
      const v = map.get(n);
      if (typeof v === "string") out.push([n, v]);
      else for (const c of v) out.push([n, c]);
    }
    return out;
  }
  const Headers_ = class Headers {
    constructor(init) {
      const map = (this[H] = new Map());
      this[IMM] = false;
      if (init === undefined || init === null) return;
      if (init instanceof Headers_) {
        init[H].forEach((v, k) => map.set(k, typeof v === "string" ? v : v.slice()));
      } else if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Headers: init must be an object, an array of [name, value] pairs or a Headers");
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.isArray(pair) ? pair : Array.from(pair);
          if (p.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
          const n = headerName(p[0]);
          appendTo(map, n, headerValue(p[1], n));
        }
      } else {
        for (const k of Object.keys(init)) {
          const n = headerName(k);
          appendTo(map, n, headerValue(init[k], n));
        }
      }
    }
    append(name, value) {
      const n = headerName(name);
      appendTo(writable(this), n, headerValue(value, n));
    }
    set(name, value) {
      const n = headerName(name), v = headerValue(value, n);
      writable(this).set(n, n === "set-cookie" ? [v] : v);
    }
    get(name) {
      const v = this[H].get(headerName(name));
      return v === undefined ? null : typeof v === "string" ? v : v.join(", ");
    }
    has(name) {
      return this[H].has(headerName(name));
    }
    delete(name) {
      const n = headerName(name);
      writable(this).delete(n);
    }
    getSetCookie() {
      const v = this[H].get("set-cookie");
      return v === undefined ? [] : v.slice();
    }
    forEach(fn, thisArg) {
      for (const p of sortedPairs(this)) fn.call(thisArg, p[1], p[0], this);
    }
    *keys() {
      for (const p of sortedPairs(this)) yield p[0];
    }
    *values() {
      for (const p of sortedPairs(this)) yield p[1];
    }
    *entries() {
      yield* sortedPairs(this);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    [INSPECT]() {
      const o = {};
      this[H].forEach((v, k) => {
        o[k] = v;
      });
      return o;
    }
  };
  tag(Headers_, "Headers");
  def("Headers", Headers_);

  // Headers of a Request/Response are built when first asked for: until then the state keeps the
  // engine's object (`raw`, lower-case names, trusted) or just the content type of its body.
  function trustedHeaders(raw, imm) {
    const h = Object.create(Headers_.prototype), map = (h[H] = new Map());
    h[IMM] = imm;
    for (const k in raw) {
      const v = raw[k];
      if (typeof v === "string") map.set(k, k === "set-cookie" ? [v] : v);
      else if (Array.isArray(v)) map.set(k, k === "set-cookie" ? v.map(String) : v.join(", "));
      else if (v !== undefined && v !== null) map.set(k, String(v));
    }
    return h;
  }
  function headersOf(s) {
    if (s.headers === null) {
      s.headers = trustedHeaders(s.raw, s.imm);
      if (s.ctype !== null && s.raw === null) s.headers[H].set("content-type", s.ctype);
    }
    return s.headers;
  }
  function contentType(s) {
    if (s.headers !== null) return s.headers.get("content-type");
    if (s.raw !== null) {
      const v = s.raw["content-type"];
      return v === undefined || v === null ? null : String(v);
    }
    return s.ctype;
  }
  function addType(s, type) {
    if (type === null) return;
    if (s.headers === null && s.raw === null) {
      if (s.ctype === null) s.ctype = type;
    } else {
      const map = headersOf(s)[H];
      if (!map.has("content-type")) map.set("content-type", type);
    }
  }
  // Headers that describe one connection or one encoding of the body, not the message: left out
  // of what goes to the engine (an answer, a request sent by fetch), which sets its own.
  const HOP = { connection: 1, "keep-alive": 1, "transfer-encoding": 1, "content-length": 1, upgrade: 1, "proxy-connection": 1, te: 1, trailer: 1 };
  // fetch reads an answer's body as text: asking for a compressed one (a browser's
  // accept-encoding passed on by a proxying script) would hand back bytes it cannot decode.
  const NOT_SENT = Object.assign({ host: 1, expect: 1, "accept-encoding": 1 }, HOP);
  // A plain object of an answer's headers (lower-case names); set-cookie as an array when repeated.
  function plainHeaders(s) {
    const o = {};
    if (s.headers !== null)
      s.headers[H].forEach((v, k) => {
        if (HOP[k] !== 1) o[k] = typeof v === "string" ? v : v.length === 1 ? v[0] : v.slice();
      });
    else if (s.raw !== null) {
      for (const k in s.raw) {
        const v = s.raw[k];
        if (v !== undefined && v !== null && HOP[k] !== 1) o[k] = typeof v === "string" || Array.isArray(v) ? v : String(v);
      }
    } else if (s.ctype !== null) o["content-type"] = s.ctype;
    return o;
  }

  // ---- bodies --------------------------------------------------------------------------------
  const TEXT_TYPE = "text/plain;charset=UTF-8";
  const FORM_TYPE = "application/x-www-form-urlencoded;charset=UTF-8";
  let extractedType = null; // the content type of the body extract() returned last
  // A body as kept in a state: null, a string, or a Uint8Array nobody else writes to.
  function extract(body) {
    extractedType = null;
    if (typeof body === "string") {
      extractedType = TEXT_TYPE;
      return body;
    }
    if (typeof body === "object") {
      if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return toU8(body).slice();
      if (body instanceof BodyStream) return takeStream(body);
      if (body instanceof Blob_) {
        if (body[BL].type) extractedType = body[BL].type;
        return body[BL].bytes;
      }
      if (body instanceof FormData_) return multipartBody(body);
      if (body instanceof USP) {
        extractedType = FORM_TYPE;
        return body.toString();
      }
    }
    extractedType = TEXT_TYPE;
    return String(body);
  }
  const usedError = () =>
    new TypeError("Body has already been used. It can only be used once. Use clone() first if you need to read it twice.");
  function take(o) {
    const s = o[S];
    if (s === undefined) throw new TypeError("Illegal invocation");
    if (s.used) throw usedError();
    if (s.body !== null) s.used = true;
    return s.body;
  }

  // `body`: a minimal ReadableStream-like view of a body (getReader().read() gives it as one
  // chunk), mainly so that `new Response(other.body, other)` and `KV.put(key, request.body)` work.
  const BS = Symbol("stream"), LOCK = Symbol("locked");
  function takeStream(stream) {
    const s = stream[BS];
    if (s.used || stream[LOCK]) throw new TypeError("This ReadableStream is disturbed (its body was already read) or locked");
    s.used = true;
    return s.body;
  }
  class BodyStream {
    constructor(s) {
      this[BS] = s;
      this[LOCK] = false;
    }
    get locked() {
      return this[LOCK];
    }
    getReader(options) {
      if (options && options.mode === "byob") throw new TypeError("getReader({mode: 'byob'}) is not supported");
      if (this[LOCK]) throw new TypeError("This ReadableStream is already locked to a reader");
      this[LOCK] = true;
      const stream = this;
      let state = 0;
      return {
        read() {
          if (state !== 0) return Promise.resolve({ value: undefined, done: true });
          state = 1;
          const s = stream[BS];
          if (s.used) return Promise.reject(usedError());
          s.used = true;
          const u = bytesOf(s.body);
          return Promise.resolve(u.length ? { value: u.slice(), done: false } : { value: undefined, done: true });
        },
        releaseLock() {
          stream[LOCK] = false;
        },
        cancel() {
          state = 1;
          stream[BS].used = true;
          return Promise.resolve();
        },
        closed: Promise.resolve(),
      };
    }
    cancel() {
      this[BS].used = true;
      return Promise.resolve();
    }
    [Symbol.asyncIterator]() {
      const reader = this.getReader();
      return {
        next: () => reader.read(),
        return: () => {
          reader.releaseLock();
          return Promise.resolve({ value: undefined, done: true });
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    }
  }
  tag(BodyStream, "ReadableStream");

  // The body methods shared by Request and Response.
  const bodyMethods = {
    get body() {
      const s = this[S];
      return s.body === null ? null : s.stream || (s.stream = new BodyStream(s));
    },
    get bodyUsed() {
      return this[S].used;
    },
    async text() {
      return textOf(take(this));
    },
    async json() {
      return JSON.parse(textOf(take(this)));
    },
    async arrayBuffer() {
      const b = take(this);
      return b === null ? new ArrayBuffer(0) : typeof b === "string" ? bufferOf(utf8(b)) : b.slice().buffer;
    },
    async bytes() {
      const b = take(this);
      return typeof b === "string" ? utf8(b) : b === null ? new Uint8Array(0) : b.slice();
    },
    async blob() {
      const type = contentType(this[S]);
      const b = take(this);
      return makeBlob(typeof b === "string" ? utf8(b) : bytesOf(b), blobType(type === null ? "" : type));
    },
    async formData() {
      const type = contentType(this[S]) || "";
      const b = take(this);
      const lower = type.toLowerCase();
      if (lower.indexOf("multipart/form-data") === 0) {
        const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
        if (!m) throw new TypeError("formData(): multipart/form-data without a boundary");
        return parseMultipart(bytesOf(b), m[1] || m[2]);
      }
      if (lower.indexOf("application/x-www-form-urlencoded") === 0) {
        const fd = new FormData_();
        for (const p of parseQuery(textOf(b))) fd[FD].push(p);
        return fd;
      }
      throw new TypeError("formData(): the content type must be multipart/form-data or application/x-www-form-urlencoded, not " + quote(type));
    },
  };
  const mixBody = (cls) => Object.defineProperties(cls.prototype, Object.getOwnPropertyDescriptors(bodyMethods));

  // ---- Request -------------------------------------------------------------------------------
  const NORMAL_METHODS = { DELETE: 1, GET: 1, HEAD: 1, OPTIONS: 1, PATCH: 1, POST: 1, PUT: 1 };
  function normalizeMethod(m) {
    m = String(m);
    if (!TOKEN.test(m)) throw new TypeError("Invalid HTTP method: " + quote(m));
    const up = m.toUpperCase();
    if (up === "CONNECT" || up === "TRACE" || up === "TRACK") throw new TypeError("Forbidden HTTP method: " + up);
    return NORMAL_METHODS[up] === 1 ? up : m;
  }
  function parseUrl(input) {
    if (typeof input === "object" && input !== null && typeof g.URL === "function" && input instanceof g.URL) return input.href;
    const s = String(input);
    try {
      return new URL(s).href;
    } catch (e) {
      throw new TypeError("Invalid URL: " + quote(s) + (s.charAt(0) === "/" ? " (a Request needs a full URL: new URL(path, request.url))" : ""));
    }
  }
  const EMPTY = Object.freeze({});
  const REDIRECTS = { follow: 1, error: 1, manual: 1 };
  const Request_ = class Request {
    constructor(input, init) {
      if (init === undefined || init === null) init = EMPTY;
      let src = null;
      const s = { method: "GET", url: "", headers: null, raw: null, ctype: null, imm: false, body: null, used: false, stream: null, signal: null, redirect: "follow" };
      if (input instanceof Request_) {
        src = input[S];
        s.url = src.url;
        s.method = src.method;
        s.signal = src.signal;
        s.redirect = src.redirect;
      } else s.url = parseUrl(input);
      if (init.method !== undefined) s.method = normalizeMethod(init.method);
      if (init.redirect !== undefined) {
        s.redirect = String(init.redirect);
        if (REDIRECTS[s.redirect] !== 1) throw new TypeError("Request: redirect must be follow, error or manual");
      }
      if (init.signal !== undefined) s.signal = init.signal;
      if (init.headers !== undefined) s.headers = new Headers_(init.headers);
      else if (src !== null) {
        s.headers = src.headers === null ? null : new Headers_(src.headers);
        s.raw = src.raw;
        s.ctype = src.ctype;
      }
      let type = null;
      if (init.body !== undefined && init.body !== null) {
        s.body = extract(init.body);
        type = extractedType;
      } else if (src !== null && init.body === undefined && src.body !== null) {
        if (src.used) throw usedError();
        s.body = src.body;
      }
      if (s.body !== null && (s.method === "GET" || s.method === "HEAD")) throw new TypeError("Request with GET/HEAD method cannot have body.");
      addType(s, type);
      this[S] = s;
    }
    get method() {
      return this[S].method;
    }
    get url() {
      return this[S].url;
    }
    get headers() {
      return headersOf(this[S]);
    }
    get signal() {
      const s = this[S];
      return s.signal || (s.signal = new AbortSignal_(KEY));
    }
    get redirect() {
      return this[S].redirect;
    }
    clone() {
      const s = this[S];
      if (s.used) throw usedError();
      const r = Object.create(Request_.prototype);
      r[S] = Object.assign({}, s, { headers: s.headers === null ? null : copyHeaders(s.headers), stream: null });
      return r;
    }
    [INSPECT]() {
      return { method: this.method, url: this.url, headers: this.headers[INSPECT]() };
    }
  };
  function copyHeaders(h) {
    const c = new Headers_(h);
    c[IMM] = h[IMM];
    return c;
  }
  mixBody(Request_);
  tag(Request_, "Request");
  def("Request", Request_);

  // ---- Response ------------------------------------------------------------------------------
  const NULL_BODY = { 101: 1, 103: 1, 204: 1, 205: 1, 304: 1 };
  const REDIRECT_STATUS = { 301: 1, 302: 1, 303: 1, 307: 1, 308: 1 };
  function responseState(status, statusText) {
    return { status, statusText, headers: null, raw: null, ctype: null, imm: false, body: null, used: false, stream: null, type: "default", url: "", redirected: false };
  }
  function initState(init) {
    let status = 200;
    if (init.status !== undefined) {
      status = Number(init.status);
      if (!(status >= 200 && status <= 599 && status === Math.floor(status)))
        throw new RangeError("Responses may only be constructed with status codes in the range 200 to 599, inclusive (got " + String(init.status) + ")");
    }
    let statusText = "";
    if (init.statusText !== undefined) {
      statusText = String(init.statusText);
      if (/[^\t\x20-\x7e\x80-\xff]/.test(statusText)) throw new TypeError("Invalid statusText");
    }
    const s = responseState(status, statusText);
    if (init.headers !== undefined) s.headers = new Headers_(init.headers);
    return s;
  }
  const Response_ = class Response {
    constructor(body, init) {
      const s = initState(init === undefined || init === null ? EMPTY : init);
      if (body !== undefined && body !== null) {
        if (NULL_BODY[s.status] === 1) throw new TypeError("Response with null body status " + s.status + " cannot have body");
        s.body = extract(body);
        addType(s, extractedType);
      }
      this[S] = s;
    }
    static json(value, init) {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError("Response.json: the value has no JSON form");
      const s = initState(init === undefined || init === null ? EMPTY : init);
      if (NULL_BODY[s.status] === 1) throw new TypeError("Response with null body status " + s.status + " cannot have body");
      s.body = text;
      addType(s, "application/json");
      const r = Object.create(Response_.prototype);
      r[S] = s;
      return r;
    }
    static redirect(url, status) {
      status = status === undefined ? 302 : Number(status);
      if (REDIRECT_STATUS[status] !== 1) throw new RangeError("Invalid status code for a redirect: " + status + " (301, 302, 303, 307 or 308)");
      let location = String(url);
      try {
        location = new URL(location).href;
      } catch (e) {
        // No base URL to resolve against: a relative location is sent as it is.
      }
      const s = responseState(status, "");
      s.headers = trustedHeaders(EMPTY, true);
      s.headers[H].set("location", headerValue(location, "location"));
      const r = Object.create(Response_.prototype);
      r[S] = s;
      return r;
    }
    static error() {
      const s = responseState(0, "");
      s.type = "error";
      s.imm = true;
      const r = Object.create(Response_.prototype);
      r[S] = s;
      return r;
    }
    get status() {
      return this[S].status;
    }
    get statusText() {
      return this[S].statusText;
    }
    get ok() {
      const st = this[S].status;
      return st >= 200 && st <= 299;
    }
    get headers() {
      return headersOf(this[S]);
    }
    get redirected() {
      return this[S].redirected;
    }
    get type() {
      return this[S].type;
    }
    get url() {
      return this[S].url;
    }
    get webSocket() {
      return null;
    }
    clone() {
      const s = this[S];
      if (s.used) throw usedError();
      const r = Object.create(Response_.prototype);
      r[S] = Object.assign({}, s, { headers: s.headers === null ? null : copyHeaders(s.headers), stream: null });
      return r;
    }
    [INSPECT]() {
      return { status: this.status, statusText: this.statusText, headers: this.headers[INSPECT](), url: this.url, bodyUsed: this.bodyUsed };
    }
  };
  mixBody(Response_);
  tag(Response_, "Response");
  def("Response", Response_);

  // ---- fetch ---------------------------------------------------------------------------------
  const isPlainObject = (v) => {
    if (v === null || typeof v !== "object") return false;
    if (Array.isArray(v)) return true;
    const p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
  };
  // Standard fetch over the engine's __cc_fetch (which blocks; the promise settles after it).
  // Like the classic fetch, a plain object or array body is sent as JSON.
  g.fetch = async function fetch(input, init) {
    let json = null;
    if (init !== undefined && init !== null && isPlainObject(init.body)) {
      json = JSON.stringify(init.body);
      init = Object.assign({}, init, { body: undefined });
    }
    const req = input instanceof Request_ && (init === undefined || init === null) ? input : new Request_(input, init);
    const s = req[S];
    if (json !== null) {
      if (s.method === "GET" || s.method === "HEAD") throw new TypeError("Request with GET/HEAD method cannot have body.");
      s.body = json;
      addType(s, "application/json");
    }
    if (s.signal && s.signal.aborted) throw s.signal.reason;
    if (s.used) throw usedError();
    const headers = {};
    headersOf(s)[H].forEach((v, k) => {
      if (NOT_SENT[k] !== 1) headers[k] = typeof v === "string" ? v : v.join(", ");
    });
    const options = { method: s.method, headers };
    if (s.body !== null) {
      options.body = typeof s.body === "string" ? s.body : fromUtf8Raw(s.body);
      s.used = true;
    }
    const reply = JSON.parse(__cc_fetch(s.url, JSON.stringify(options)));
    const rs = responseState(reply.status | 0, "");
    rs.raw = reply.headers || {};
    rs.imm = true;
    rs.type = "basic";
    rs.url = reply.url || s.url;
    rs.body = typeof reply.body === "string" ? reply.body : reply.body === null || reply.body === undefined ? null : String(reply.body);
    const r = Object.create(Response_.prototype);
    r[S] = rs;
    return r;
  };

