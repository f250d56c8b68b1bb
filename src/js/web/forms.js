// Part of web.js, the one script src/js/web.rs evaluates: see web/base.js for its start.
  // ---- URLSearchParams (only when the engine has none) ---------------------------------------
  function toWellFormed(s) {
    let out = "";
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        out += s[i] + s[i + 1];
        i++;
      } else out += (c & 0xf800) === 0xd800 ? "\uFFFD" : s[i];
    }
    return out;
  }
  function formEncode(s) {
    let e;
    try {
      e = encodeURIComponent(s);
    } catch (err) {
      e = encodeURIComponent(toWellFormed(s));
    }
    return e.replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }
  function formDecode(s) {
    if (s.indexOf("+") >= 0) s = s.replace(/\+/g, " ");
    if (s.indexOf("%") < 0) return s;
    try {
      return decodeURIComponent(s);
    } catch (err) {
      const bytes = [];
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 37 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
          bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
          i += 2;
        } else if (c < 128) bytes.push(c);
        else {
          const cp = s.codePointAt(i);
          for (const x of utf8(String.fromCodePoint(cp))) bytes.push(x);
          if (cp > 0xffff) i++;
        }
      }
      return fromUtf8Raw(new Uint8Array(bytes));
    }
  }
  function parseQuery(s) {
    const out = [];
    if (s.charCodeAt(0) === 63) s = s.slice(1);
    if (s === "") return out;
    for (const part of s.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      out.push(eq < 0 ? [formDecode(part), ""] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
    }
    return out;
  }
  let USP = g.URLSearchParams;
  if (typeof USP !== "function") {
    const Q = Symbol("query"), QURL = Symbol("url"), QS = Symbol("search");
    const sync = (p) => {
      const u = p[QURL];
      if (u) {
        u.search = p.toString();
        p[QS] = u.search;
      }
    };
    USP = class URLSearchParams {
      constructor(init) {
        this[Q] = [];
        this[QURL] = null;
        this[QS] = null;
        if (init === undefined || init === null) return;
        if (typeof init === "object" || typeof init === "function") {
          if (init instanceof USP) this[Q] = init[Q].map((p) => [p[0], p[1]]);
          else if (typeof init[Symbol.iterator] === "function")
            for (const pair of init) {
              const p = Array.from(pair);
              if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
              this[Q].push([String(p[0]), String(p[1])]);
            }
          else for (const k of Object.keys(init)) this[Q].push([k, String(init[k])]);
        } else this[Q] = parseQuery(String(init));
      }
      get size() {
        return this[Q].length;
      }
      append(name, value) {
        this[Q].push([String(name), String(value)]);
        sync(this);
      }
      delete(name, value) {
        name = String(name);
        const v = value === undefined ? undefined : String(value);
        this[Q] = this[Q].filter((p) => p[0] !== name || (v !== undefined && p[1] !== v));
        sync(this);
      }
      get(name) {
        name = String(name);
        for (const p of this[Q]) if (p[0] === name) return p[1];
        return null;
      }
      getAll(name) {
        name = String(name);
        return this[Q].filter((p) => p[0] === name).map((p) => p[1]);
      }
      has(name, value) {
        name = String(name);
        const v = value === undefined ? undefined : String(value);
        return this[Q].some((p) => p[0] === name && (v === undefined || p[1] === v));
      }
      set(name, value) {
        name = String(name);
        value = String(value);
        const q = this[Q], out = [];
        let done = false;
        for (const p of q)
          if (p[0] !== name) out.push(p);
          else if (!done) {
            out.push([name, value]);
            done = true;
          }
        if (!done) out.push([name, value]);
        this[Q] = out;
        sync(this);
      }
      sort() {
        this[Q].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        sync(this);
      }
      forEach(fn, thisArg) {
        for (const p of this[Q].slice()) fn.call(thisArg, p[1], p[0], this);
      }
      *keys() {
        for (const p of this[Q]) yield p[0];
      }
      *values() {
        for (const p of this[Q]) yield p[1];
      }
      *entries() {
        for (const p of this[Q]) yield [p[0], p[1]];
      }
      [Symbol.iterator]() {
        return this.entries();
      }
      toString() {
        return this[Q].map((p) => formEncode(p[0]) + "=" + formEncode(p[1])).join("&");
      }
    };
    tag(USP, "URLSearchParams");
    def("URLSearchParams", USP);
    // The engine's URL has no searchParams without a URLSearchParams: give it one, kept in step
    // with url.search both ways.
    if (typeof g.URL === "function") {
      const params = new WeakMap();
      try {
        Object.defineProperty(g.URL.prototype, "searchParams", {
          configurable: true,
          enumerable: true,
          get() {
            const search = this.search;
            let p = params.get(this);
            if (p === undefined) {
              p = new USP(search);
              p[QURL] = this;
              p[QS] = search;
              params.set(this, p);
            } else if (p[QS] !== search) {
              p[Q] = parseQuery(search);
              p[QS] = search;
            }
            return p;
          },
        });
      } catch (e) {}
    }
  }

  // ---- Blob, File ----------------------------------------------------------------------------
  const BL = Symbol("blob"), FN = Symbol("file");
  const blobType = (t) => {
    t = t === undefined ? "" : String(t);
    return /[^\x20-\x7e]/.test(t) ? "" : t.toLowerCase();
  };
  const Blob_ = class Blob {
    constructor(parts, options) {
      let bytes = EMPTY_U8;
      if (parts !== undefined && parts !== null) {
        if (typeof parts[Symbol.iterator] !== "function") throw new TypeError("Blob: the parts must be an array (or an iterable)");
        const chunks = [];
        for (const p of parts)
          chunks.push(typeof p === "string" ? utf8(p) : p instanceof Blob_ ? p[BL].bytes : isBuffer(p) ? toU8(p).slice() : utf8(String(p)));
        if (chunks.length) bytes = concat(chunks);
      }
      this[BL] = { bytes, type: blobType(options && options.type) };
    }
    get size() {
      return this[BL].bytes.length;
    }
    get type() {
      return this[BL].type;
    }
    text() {
      return Promise.resolve(fromUtf8(this[BL].bytes));
    }
    arrayBuffer() {
      return Promise.resolve(this[BL].bytes.slice().buffer);
    }
    bytes() {
      return Promise.resolve(this[BL].bytes.slice());
    }
    slice(start, end, type) {
      return makeBlob(this[BL].bytes.slice(start === undefined ? 0 : start, end === undefined ? this[BL].bytes.length : end), blobType(type));
    }
    stream() {
      return new BodyStream({ body: this[BL].bytes, used: false });
    }
    [INSPECT]() {
      return { size: this.size, type: this.type };
    }
  };
  const File_ = class File extends Blob_ {
    constructor(parts, name, options) {
      if (arguments.length < 2) throw new TypeError("File: the parts and the name are required");
      super(parts, options);
      this[FN] = { name: String(name), lastModified: options && options.lastModified !== undefined ? Number(options.lastModified) : Date.now() };
    }
    get name() {
      return this[FN].name;
    }
    get lastModified() {
      return this[FN].lastModified;
    }
    get webkitRelativePath() {
      return "";
    }
    [INSPECT]() {
      return { name: this.name, size: this.size, type: this.type };
    }
  };
  function makeBlob(bytes, type) {
    const b = Object.create(Blob_.prototype);
    b[BL] = { bytes, type };
    return b;
  }
  function makeFile(bytes, name, type) {
    const f = Object.create(File_.prototype);
    f[BL] = { bytes, type };
    f[FN] = { name, lastModified: Date.now() };
    return f;
  }
  tag(Blob_, "Blob");
  tag(File_, "File");
  def("Blob", Blob_);
  def("File", File_);

  // ---- FormData ------------------------------------------------------------------------------
  const FD = Symbol("formdata");
  function entryValue(value, filename, n) {
    if (!(value instanceof Blob_)) return String(value);
    if (value instanceof File_ && n < 3) return value;
    return makeFile(value[BL].bytes, n >= 3 ? String(filename) : value instanceof File_ ? value.name : "blob", value[BL].type);
  }
  const FormData_ = class FormData {
    constructor(form) {
      if (form !== undefined) throw new TypeError("FormData: building from a form element is not supported here");
      this[FD] = [];
    }
    append(name, value, filename) {
      this[FD].push([String(name), entryValue(value, filename, arguments.length)]);
    }
    set(name, value, filename) {
      name = String(name);
      const e = [name, entryValue(value, filename, arguments.length)], out = [];
      let done = false;
      for (const p of this[FD])
        if (p[0] !== name) out.push(p);
        else if (!done) {
          out.push(e);
          done = true;
        }
      if (!done) out.push(e);
      this[FD] = out;
    }
    delete(name) {
      name = String(name);
      this[FD] = this[FD].filter((p) => p[0] !== name);
    }
    get(name) {
      name = String(name);
      for (const p of this[FD]) if (p[0] === name) return p[1];
      return null;
    }
    getAll(name) {
      name = String(name);
      return this[FD].filter((p) => p[0] === name).map((p) => p[1]);
    }
    has(name) {
      name = String(name);
      return this[FD].some((p) => p[0] === name);
    }
    forEach(fn, thisArg) {
      for (const p of this[FD].slice()) fn.call(thisArg, p[1], p[0], this);
    }
    *keys() {
      for (const p of this[FD]) yield p[0];
    }
    *values() {
      for (const p of this[FD]) yield p[1];
    }
    *entries() {
      for (const p of this[FD]) yield [p[0], p[1]];
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    [INSPECT]() {
      return this[FD].map((p) => [p[0], p[1]]);
    }
  };
  tag(FormData_, "FormData");
  def("FormData", FormData_);

  const CRLF = [13, 10];
  const escapeName = (s) => s.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  function multipartBody(fd) {
    let boundary = "----ccFormBoundary";
    for (let i = 0; i < 4; i++) boundary += Math.floor(Math.random() * 0x100000000).toString(16);
    const chunks = [];
    let head = "";
    for (const p of fd[FD]) {
      head += "--" + boundary + '\r\nContent-Disposition: form-data; name="' + escapeName(p[0].replace(/\r\n|\r|\n/g, "\r\n")) + '"';
      const v = p[1];
      if (typeof v === "string") head += "\r\n\r\n" + v.replace(/\r\n|\r|\n/g, "\r\n") + "\r\n";
      else {
        chunks.push(utf8(head + '; filename="' + escapeName(v.name) + '"\r\nContent-Type: ' + (v.type || "application/octet-stream") + "\r\n\r\n"));
        chunks.push(v[BL].bytes, new Uint8Array(CRLF));
        head = "";
      }
    }
    chunks.push(utf8(head + "--" + boundary + "--\r\n"));
    extractedType = "multipart/form-data; boundary=" + boundary;
    return concat(chunks);
  }
  function find(h, n, from) {
    const first = n[0], len = n.length, last = h.length - len;
    for (let i = from; i <= last; i++) {
      i = h.indexOf(first, i);
      if (i < 0 || i > last) return -1;
      let k = 1;
      while (k < len && h[i + k] === n[k]) k++;
      if (k === len) return i;
    }
    return -1;
  }
  const PARAM = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  function headerParams(v) {
    const out = Object.create(null);
    PARAM.lastIndex = 0;
    let m;
    while ((m = PARAM.exec(v)) !== null) out[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3].trim();
    const ext = out["filename*"] && /^[^']*'[^']*'(.*)$/.exec(out["filename*"]);
    if (ext)
      try {
        out.filename = decodeURIComponent(ext[1]);
      } catch (e) {}
    return out;
  }
  const badForm = () => new TypeError("formData(): the body is not valid multipart/form-data");
  function parseMultipart(bytes, boundary) {
    const fd = new FormData_();
    const delim = utf8("--" + boundary), next = utf8("\r\n--" + boundary), blank = new Uint8Array([13, 10, 13, 10]);
    // Every "\r\n--boundary" at once, found natively: a body built to make a search in JS
    // crawl (a megabyte of dashes) costs one pass in Rust instead of a second of script time.
    const stops = __cc_find_all(bytes.slice().buffer, next.slice().buffer);
    let si = 0;
    const nextStop = (from) => {
      while (si < stops.length && stops[si] < from) si++;
      return si < stops.length ? stops[si] : -1;
    };
    let pos;
    if (bytes.length >= delim.length && find(bytes.subarray(0, delim.length), delim, 0) === 0) pos = 0;
    else {
      pos = nextStop(0);
      if (pos < 0) throw badForm();
      pos += 2;
    }
    for (;;) {
      pos += delim.length;
      if (bytes[pos] === 45 && bytes[pos + 1] === 45) return fd;
      while (bytes[pos] === 32 || bytes[pos] === 9) pos++;
      if (bytes[pos] !== 13 || bytes[pos + 1] !== 10) throw badForm();
      pos += 2;
      const bound = nextStop(pos);
      if (bound < 0) throw badForm();
      let head = "", start = pos + 2;
      if (bytes[pos] !== 13 || bytes[pos + 1] !== 10) {
        // The part's head ends before its end: never searched past it.
        const end = find(bytes.subarray(0, bound), blank, pos);
        if (end < 0) throw badForm();
        head = fromUtf8(bytes.subarray(pos, end));
        start = end + 4;
      }
      const stop = nextStop(start);
      if (stop < 0) throw badForm();
      let disposition = "", type = "";
      for (const line of head.split("\r\n")) {
        const c = line.indexOf(":");
        if (c < 0) continue;
        const name = line.slice(0, c).trim().toLowerCase();
        if (name === "content-disposition") disposition = line.slice(c + 1);
        else if (name === "content-type") type = line.slice(c + 1).trim();
      }
      const params = headerParams(disposition);
      if (params.name !== undefined) {
        const content = bytes.subarray(start, stop);
        fd[FD].push([params.name, params.filename !== undefined ? makeFile(content.slice(), params.filename, type) : fromUtf8(content)]);
      }
      pos = stop + 2;
    }
  }

