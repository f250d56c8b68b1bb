// Installs the web platform lazily: each name web.js defines (and the engine's URL, which web.js
// completes) is a getter that evaluates web.js on first use, through the native __cc_load_web.
// A script that never touches them (the classic counter) pays nothing for them on each run: a
// bigger heap makes every garbage collection longer. Evaluated once per context after prelude.js.
(function () {
  "use strict";
  const g = globalThis;
  const names = [
    "DOMException", "Event", "CustomEvent", "EventTarget", "AbortSignal", "AbortController",
    "URL", "URLSearchParams", "Blob", "File", "FormData", "Headers", "Request", "Response",
    "CryptoKey", "crypto", "performance", "navigator", "self", "fetch", "console",
    "setTimeout", "setInterval", "clearTimeout", "clearInterval",
  ];
  const saved = new Map();
  for (const name of names) if (name in g) saved.set(name, g[name]);
  let loaded = false;
  const load = function () {
    if (loaded) return;
    loaded = true;
    for (const name of names) {
      delete g[name];
      if (saved.has(name)) {
        Object.defineProperty(g, name, { value: saved.get(name), writable: true, configurable: true, enumerable: false });
      }
    }
    __cc_load_web();
  };
  for (const name of names) {
    Object.defineProperty(g, name, {
      configurable: true,
      enumerable: false,
      get() {
        load();
        return g[name];
      },
      set(value) {
        load();
        g[name] = value;
      },
    });
  }
  Object.defineProperty(g, "__cc_web_load", { value: load, enumerable: false });
})();
