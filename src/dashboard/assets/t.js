// cc-server pageview snippet: <script defer src="http://<your-dashboard>/t.js"></script>
// Sends the page's URL and referrer to the server it was loaded from. No cookies, no storage.
(function () {
  var me = document.currentScript;
  if (!me || navigator.doNotTrack === "1") return;
  var endpoint = new URL(me.src).origin + "/api/event";
  function send() {
    var body = JSON.stringify({ url: location.href, referrer: document.referrer || null });
    if (navigator.sendBeacon) {
      navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }));
    } else {
      fetch(endpoint, { method: "POST", body: body, keepalive: true, credentials: "omit" });
    }
  }
  send();
  // Single-page apps: count history navigations too.
  var push = history.pushState;
  history.pushState = function () {
    push.apply(this, arguments);
    send();
  };
  addEventListener("popstate", send);
})();
