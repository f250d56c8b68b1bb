// The web platform of main.js (Cloudflare Workers / WinterTC style), evaluated once in each site's
// context after prelude.js: Headers, Request, Response, fetch, FormData, Blob, File, AbortController,
// AbortSignal, Event, EventTarget, DOMException, crypto (getRandomValues, randomUUID, subtle: SHA
// digests and HMAC), timers over a queue the engine drives (__cc_timers), a console that formats
// objects, and __cc_web (request/serve/scheduled/kv) for the engine. URL, TextEncoder/TextDecoder,
// atob/btoa, structuredClone and queueMicrotask come from the engine; URLSearchParams (and
// URL.prototype.searchParams) are defined here only when the engine has none. Every global is
// defined only when absent, except fetch, console and the timers, which replace the prelude's.
(function () {
  "use strict";
  const g = globalThis;
  // Only when absent; a name web/lazy.js stands in for is absent until it has a value.
  const lazy = g.__cc_lazy;
  const def = (name, value) => {
    if (lazy && lazy.has(name)) {
      if (!lazy.isSet(name)) g[name] = value;
    } else if (!(name in g)) {
      Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
    }
  };
  const tag = (cls, name) =>
    Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const KEY = Symbol("internal"); // lets this file call constructors that scripts may not
  const S = Symbol("state"); // Request/Response state
  const INSPECT = Symbol("inspect"); // console's view of our objects

  // ---- bytes and text ------------------------------------------------------------------------
  let encoder = null, decoder = null, rawDecoder = null;
  const utf8 = (s) => (encoder || (encoder = new TextEncoder())).encode(s);
  // The engine's TextEncoder has no encodeInto: whole characters while they fit, as the
  // standard says.
  if (!("encodeInto" in TextEncoder.prototype)) {
    Object.defineProperty(TextEncoder.prototype, "encodeInto", {
      value: function encodeInto(source, destination) {
        let read = 0, written = 0;
        for (const ch of String(source)) {
          const b = utf8(ch);
          if (written + b.length > destination.length) break;
          destination.set(b, written);
          written += b.length;
          read += ch.length;
        }
        return { read, written };
      },
      writable: true,
      configurable: true,
    });
  }
  const fromUtf8 = (b) => (decoder || (decoder = new TextDecoder())).decode(b); // drops a BOM, as text() does
  const fromUtf8Raw = (b) => (rawDecoder || (rawDecoder = new TextDecoder("utf-8", { ignoreBOM: true }))).decode(b);
  const isBuffer = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x);
  const toU8 = (x) => (x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  const EMPTY_U8 = new Uint8Array(0);
  const bytesOf = (b) => (b === null ? EMPTY_U8 : typeof b === "string" ? utf8(b) : b); // may share: copy before handing out
  const textOf = (b) => (b === null ? "" : typeof b === "string" ? b : fromUtf8(b));
  const bufferOf = (u8) => (u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8.buffer : u8.slice().buffer);
  function concat(chunks) {
    if (chunks.length === 1) return chunks[0];
    let n = 0;
    for (const c of chunks) n += c.length;
    const out = new Uint8Array(n);
    n = 0;
    for (const c of chunks) {
      out.set(c, n);
      n += c.length;
    }
    return out;
  }
  function toBase64(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 8192) s += String.fromCharCode.apply(null, u8.subarray(i, i + 8192));
    return btoa(s);
  }
  function fromBase64(b64) {
    const s = atob(b64);
    const u = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u;
  }
  // Whether bytes are well-formed UTF-8 (then a string keeps them exactly).
  function isUtf8(b) {
    if (fromUtf8Raw(b).indexOf("\uFFFD") < 0) return true; // the decoder marks every bad sequence
    for (let i = 0, n = b.length; i < n; ) {
      const c = b[i];
      if (c < 0x80) {
        i++;
        continue;
      }
      const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
      if (need === 0 || i + need >= n) return false;
      let cp = c & (0x3f >> need);
      for (let k = 1; k <= need; k++) {
        const d = b[i + k];
        if ((d & 0xc0) !== 0x80) return false;
        cp = (cp << 6) | (d & 0x3f);
      }
      if (cp < (need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
      i += need + 1;
    }
    return true;
  }

  // ---- DOMException, Event, EventTarget ------------------------------------------------------
  const DOMException_ =
    typeof g.DOMException === "function"
      ? g.DOMException
      : (function () {
          const CODES = { IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
            NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12,
            InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18,
            NetworkError: 19, AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
            InvalidNodeTypeError: 24, DataCloneError: 25 };
          const D = class DOMException extends Error {
            constructor(message, name) {
              super(message === undefined ? "" : String(message));
              Object.defineProperty(this, "name", { value: name === undefined ? "Error" : String(name), writable: true, configurable: true });
            }
            get code() {
              return CODES[this.name] || 0;
            }
          };
          def("DOMException", D);
          return D;
        })();
  const domError = (message, name) => new DOMException_(message, name);

  const LISTENERS = Symbol("listeners"), STOP = Symbol("stop");
  const Event_ = class Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Event: the type argument is required");
      this.type = String(type);
      this.bubbles = !!(init && init.bubbles);
      this.cancelable = !!(init && init.cancelable);
      this.composed = !!(init && init.composed);
      this.defaultPrevented = false;
      this.target = null;
      this.currentTarget = null;
      this.eventPhase = 0;
      this.isTrusted = false;
      this.timeStamp = Date.now();
      this[STOP] = false;
    }
    preventDefault() {
      if (this.cancelable) this.defaultPrevented = true;
    }
    stopPropagation() {}
    stopImmediatePropagation() {
      this[STOP] = true;
    }
    composedPath() {
      return this.currentTarget ? [this.currentTarget] : [];
    }
  };
  const CustomEvent_ = class CustomEvent extends Event_ {
    constructor(type, init) {
      super(type, init);
      this.detail = init && init.detail !== undefined ? init.detail : null;
    }
  };
  const reportError = (where, e) => __cc_log("error", "Uncaught (in " + where + ") " + inspect(e, 0, []));
  const EventTarget_ = class EventTarget {
    constructor() {
      this[LISTENERS] = null;
    }
    addEventListener(type, listener, options) {
      if (listener === null || listener === undefined) return;
      if (typeof listener !== "function" && typeof listener !== "object")
        throw new TypeError("addEventListener: the listener must be a function or an object");
      const opts = options !== null && typeof options === "object" ? options : null;
      const signal = opts ? opts.signal : undefined;
      if (signal && signal.aborted) return;
      type = String(type);
      const map = this[LISTENERS] || (this[LISTENERS] = new Map());
      let list = map.get(type);
      if (!list) map.set(type, (list = []));
      for (const e of list) if (e.fn === listener) return;
      list.push({ fn: listener, once: !!(opts && opts.once), removed: false });
      if (signal) signal.addEventListener("abort", () => this.removeEventListener(type, listener));
    }
    removeEventListener(type, listener) {
      const list = this[LISTENERS] && this[LISTENERS].get(String(type));
      if (!list) return;
      for (let i = 0; i < list.length; i++)
        if (list[i].fn === listener) {
          list[i].removed = true;
          list.splice(i, 1);
          return;
        }
    }
    dispatchEvent(event) {
      if (!(event instanceof Event_)) throw new TypeError("dispatchEvent: the argument must be an Event");
      const list = this[LISTENERS] && this[LISTENERS].get(event.type);
      event.target = event.currentTarget = this;
      event.eventPhase = 2;
      if (list)
        for (const e of list.slice()) {
          if (e.removed) continue;
          if (e.once) this.removeEventListener(event.type, e.fn);
          try {
            if (typeof e.fn === "function") e.fn.call(this, event);
            else e.fn.handleEvent(event);
          } catch (err) {
            reportError("event listener", err);
          }
          if (event[STOP]) break;
        }
      event.currentTarget = null;
      event.eventPhase = 0;
      return !event.defaultPrevented;
    }
  };
  def("Event", Event_);
  def("CustomEvent", CustomEvent_);
  def("EventTarget", EventTarget_);

  // ---- AbortController / AbortSignal ---------------------------------------------------------
  const AB = Symbol("abort");
  function abortSignal(signal, reason) {
    const st = signal[AB];
    if (st.aborted) return;
    st.aborted = true;
    st.reason = reason === undefined ? domError("This operation was aborted", "AbortError") : reason;
    signal.dispatchEvent(new Event_("abort"));
  }
  const AbortSignal_ = class AbortSignal extends EventTarget_ {
    constructor(key) {
      if (key !== KEY) throw new TypeError("Illegal constructor: use new AbortController().signal or AbortSignal.abort()");
      super();
      this[AB] = { aborted: false, reason: undefined, onabort: null, handler: false };
    }
    get aborted() {
      return this[AB].aborted;
    }
    get reason() {
      return this[AB].reason;
    }
    throwIfAborted() {
      if (this[AB].aborted) throw this[AB].reason;
    }
    get onabort() {
      return this[AB].onabort;
    }
    set onabort(fn) {
      const st = this[AB];
      st.onabort = typeof fn === "function" ? fn : null;
      if (st.onabort && !st.handler) {
        // An event handler is a listener registered when first set (so it runs in that order).
        st.handler = true;
        this.addEventListener("abort", (e) => st.onabort && st.onabort.call(this, e));
      }
    }
    static abort(reason) {
      const s = new AbortSignal_(KEY);
      s[AB].aborted = true;
      s[AB].reason = reason === undefined ? domError("This operation was aborted", "AbortError") : reason;
      return s;
    }
    static timeout(ms) {
      const s = new AbortSignal_(KEY);
      addTimer(() => abortSignal(s, domError("The operation was aborted due to timeout", "TimeoutError")), ms, [], false);
      return s;
    }
    static any(signals) {
      const s = new AbortSignal_(KEY);
      const list = Array.from(signals);
      for (const x of list)
        if (x.aborted) {
          s[AB].aborted = true;
          s[AB].reason = x.reason;
          return s;
        }
      for (const x of list) x.addEventListener("abort", () => abortSignal(s, x.reason));
      return s;
    }
  };
  const AbortController_ = class AbortController {
    constructor() {
      this[AB] = new AbortSignal_(KEY);
    }
    get signal() {
      return this[AB];
    }
    abort(reason) {
      abortSignal(this[AB], reason);
    }
  };
  tag(AbortSignal_, "AbortSignal");
  tag(AbortController_, "AbortController");
  def("AbortSignal", AbortSignal_);
  def("AbortController", AbortController_);

  // ---- timers (a queue the engine drives through __cc_timers) ------------------------------
  const timers = new Map();
  let timerSeq = 0;
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError((repeat ? "setInterval" : "setTimeout") + ": the callback must be a function");
    ms = Number(ms);
    if (!(ms > 0)) ms = 0;
    const id = ++timerSeq;
    timers.set(id, { id, at: Date.now() + ms, fn, args, every: repeat ? Math.max(ms, 1) : -1 });
    return id;
  }
  const clearTimer = (id) => {
    timers.delete(id);
  };
  g.setTimeout = function setTimeout(fn, ms, ...args) {
    return addTimer(fn, ms, args, false);
  };
  g.setInterval = function setInterval(fn, ms, ...args) {
    return addTimer(fn, ms, args, true);
  };
  g.clearTimeout = function clearTimeout(id) {
    clearTimer(id);
  };
  g.clearInterval = function clearInterval(id) {
    clearTimer(id);
  };
  const byDue = (a, b) => a.at - b.at || a.id - b.id;
  g.__cc_timers = Object.freeze({
    // ms from now until the earliest timer (0 when one is due), or -1 when there is none.
    next() {
      if (timers.size === 0) return -1;
      let at = Infinity;
      timers.forEach((t) => {
        if (t.at < at) at = t.at;
      });
      const ms = at - Date.now();
      return ms > 0 ? ms : 0;
    },
    // Runs the timers due now, earliest first (those they schedule wait for the next call); an
    // error propagates (the timers not run yet stay queued). Returns how many ran.
    runDue() {
      if (timers.size === 0) return 0;
      const now = Date.now();
      const due = [];
      timers.forEach((t) => {
        if (t.at <= now) due.push(t);
      });
      if (due.length > 1) due.sort(byDue);
      let ran = 0;
      for (const t of due) {
        if (timers.get(t.id) !== t) continue; // cleared by a callback before it
        if (t.every < 0) timers.delete(t.id);
        else t.at = t.at + t.every > now ? t.at + t.every : now + t.every;
        ran++;
        t.fn.apply(undefined, t.args);
      }
      return ran;
    },
    clear() {
      timers.clear();
    },
  });

  // ---- console -------------------------------------------------------------------------------
  const MAX_DEPTH = 4, MAX_ITEMS = 100;
  const quote = (s) => JSON.stringify(s);
  function inspectError(e, top) {
    let name, message, stack;
    try {
      name = e.name === undefined ? "Error" : String(e.name);
      message = e.message === undefined ? "" : String(e.message);
      stack = typeof e.stack === "string" ? e.stack.replace(/\s+$/, "") : ""; // Boa: "    at …" lines only
    } catch (err) {
      return "[Error]";
    }
    const head = message ? name + ": " + message : name;
    if (!top) return "[" + head + "]";
    let out = head;
    if (stack) out = stack.indexOf(head) === 0 ? stack : head + "\n" + stack;
    if (e.cause !== undefined) out += "\nCaused by: " + inspect(e.cause, 1, [e]);
    return out;
  }
  function ctorName(v) {
    try {
      const p = Object.getPrototypeOf(v);
      if (p === null) return "[Object: null prototype]";
      const c = p.constructor;
      return typeof c === "function" && c.name ? c.name : "";
    } catch (e) {
      return "";
    }
  }
  function inspect(v, depth, seen) {
    switch (typeof v) {
      case "string":
        return depth === 0 ? v : quote(v);
      case "number":
        return v === 0 && 1 / v < 0 ? "-0" : String(v);
      case "bigint":
        return v + "n";
      case "undefined":
        return "undefined";
      case "boolean":
        return v ? "true" : "false";
      case "symbol":
        return v.toString();
      case "function": {
        let src = "";
        try {
          src = Function.prototype.toString.call(v);
        } catch (e) {}
        return (/^class\b/.test(src) ? "[class " : "[Function ") + (v.name || "(anonymous)") + "]";
      }
    }
    if (v === null) return "null";
    if (seen.indexOf(v) >= 0) return "[Circular]";
    if (v instanceof Error) {
      seen.push(v);
      const s = inspectError(v, depth === 0);
      seen.pop();
      return s;
    }
    if (v instanceof Date) return isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (typeof v.then === "function" && v instanceof Promise) return "Promise {}";
    if (v instanceof ArrayBuffer) return "ArrayBuffer { byteLength: " + v.byteLength + " }";
    if (ArrayBuffer.isView(v)) {
      if (v instanceof DataView) return "DataView { byteLength: " + v.byteLength + " }";
      const n = v.length, parts = [];
      for (let i = 0; i < n && i < MAX_ITEMS; i++) parts.push(String(v[i]));
      if (n > MAX_ITEMS) parts.push("… " + (n - MAX_ITEMS) + " more");
      return ctorName(v) + "(" + n + ") [" + parts.join(", ") + "]";
    }
    if (typeof v[INSPECT] === "function") {
      let view;
      try {
        view = v[INSPECT]();
      } catch (e) {
        view = {};
      }
      return ctorName(v) + " " + inspect(view, depth + 1, seen);
    }
    const isArray = Array.isArray(v);
    if (depth > MAX_DEPTH) return isArray ? "[Array]" : v instanceof Map ? "[Map]" : v instanceof Set ? "[Set]" : "[Object]";
    seen.push(v);
    let out;
    try {
      if (isArray) {
        const parts = [];
        for (let i = 0; i < v.length && i < MAX_ITEMS; i++) parts.push(inspect(v[i], depth + 1, seen));
        if (v.length > MAX_ITEMS) parts.push("… " + (v.length - MAX_ITEMS) + " more");
        out = "[" + parts.join(",") + "]";
      } else if (v instanceof Map || v instanceof Set) {
        const parts = [], isMap = v instanceof Map;
        let i = 0;
        for (const e of v) {
          if (i++ === MAX_ITEMS) {
            parts.push("…");
            break;
          }
          parts.push(isMap ? inspect(e[0], depth + 1, seen) + " => " + inspect(e[1], depth + 1, seen) : inspect(e, depth + 1, seen));
        }
        out = (isMap ? "Map(" : "Set(") + v.size + ") {" + parts.join(", ") + "}";
      } else if (typeof v.toJSON === "function") {
        out = (ctorName(v) || "Object") + " " + inspect(v.toJSON(), depth + 1, seen);
      } else {
        const keys = Object.keys(v), parts = [];
        for (let i = 0; i < keys.length && i < MAX_ITEMS; i++) parts.push(quote(keys[i]) + ":" + inspect(v[keys[i]], depth + 1, seen));
        if (keys.length > MAX_ITEMS) parts.push("… " + (keys.length - MAX_ITEMS) + " more");
        const name = ctorName(v);
        out = (name && name !== "Object" ? name + " " : "") + "{" + parts.join(",") + "}";
      }
    } catch (e) {
      out = "[" + (ctorName(v) || "Object") + "]";
    }
    seen.pop();
    return out;
  }
  function format(args) {
    let first = args[0], i = 1, out;
    if (typeof first === "string" && args.length > 1 && first.indexOf("%") >= 0) {
      out = first.replace(/%([sdifoOjc%])/g, (m, c) => {
        if (c === "%") return "%";
        if (i >= args.length) return m;
        const a = args[i++];
        switch (c) {
          case "s":
            return typeof a === "string" ? a : inspect(a, 1, []);
          case "d":
          case "i": {
            if (typeof a === "bigint") return a + "n";
            const n = Number(a);
            return String(c === "i" ? Math.trunc(n) : n);
          }
          case "f":
            return String(Number(a));
          case "c":
            return "";
          default:
            return inspect(a, 1, []);
        }
      });
    } else {
      out = inspect(first, 0, []);
    }
    for (; i < args.length; i++) out += " " + inspect(args[i], 0, []);
    return out;
  }
  const logAt = (level) =>
    function () {
      __cc_log(level, arguments.length === 1 && typeof arguments[0] === "string" ? arguments[0] : format(Array.prototype.slice.call(arguments)));
    };
  const counts = new Map(), marks = new Map();
  g.console = Object.freeze({
    log: logAt("log"),
    info: logAt("info"),
    warn: logAt("warn"),
    error: logAt("error"),
    debug: logAt("debug"),
    trace: logAt("debug"),
    dir: logAt("log"),
    table: logAt("log"),
    assert(cond, ...args) {
      if (!cond) __cc_log("error", args.length ? "Assertion failed: " + format(args) : "Assertion failed");
    },
    count(label) {
      label = label === undefined ? "default" : String(label);
      const n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      __cc_log("log", label + ": " + n);
    },
    countReset(label) {
      counts.delete(label === undefined ? "default" : String(label));
    },
    time(label) {
      marks.set(label === undefined ? "default" : String(label), Date.now());
    },
    timeLog(label, ...args) {
      label = label === undefined ? "default" : String(label);
      if (marks.has(label)) __cc_log("log", label + ": " + (Date.now() - marks.get(label)) + "ms" + (args.length ? " " + format(args) : ""));
    },
    timeEnd(label) {
      label = label === undefined ? "default" : String(label);
      if (marks.has(label)) __cc_log("log", label + ": " + (Date.now() - marks.get(label)) + "ms");
      marks.delete(label);
    },
  });

