// Installs the web platform lazily: each name web.js defines (and the engine's URL, which web.js
// completes) is a getter that evaluates web.js on first use, through the native __cc_load_web;
// assigning to one sets its value.
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
  // The values behind the getters: the engine's own (URL, the prelude's console and fetch)
  // until web.js sets its own through the setters. The getters stay for good: Boa caches
  // global lookups, and turning an accessor into a data property confused that cache.
  const values = new Map();
  for (const name of names) if (name in g) values.set(name, g[name]);
  let loaded = false;
  const load = function () {
    if (loaded) return;
    loaded = true;
    __cc_load_web();
  };
  for (const name of names) {
    Object.defineProperty(g, name, {
      configurable: false,
      enumerable: false,
      get() {
        load();
        return values.get(name);
      },
      set(value) {
        values.set(name, value);
      },
    });
  }
  // web.js's `def` asks this whether a lazy name already has a value.
  Object.defineProperty(g, "__cc_lazy", {
    value: Object.freeze({ has: (name) => names.indexOf(name) >= 0, isSet: (name) => values.has(name) }),
    enumerable: false,
  });
  Object.defineProperty(g, "__cc_web_load", { value: load, enumerable: false });
})();
