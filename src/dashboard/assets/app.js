// The dashboard's little JS: confirmations, revealing masked values, copying the new token,
// filling the env var form for editing. Pages work without it, only less comfortably.
"use strict";

document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) e.preventDefault();
});

document.addEventListener("click", function (e) {
  var el = e.target.closest("button, a");
  if (!el) return;

  if (el.hasAttribute("data-back") && history.length > 1) {
    e.preventDefault();
    history.back();
  }

  if (el.hasAttribute("data-reveal")) {
    var secret = el.parentElement.querySelector(".secret");
    var shown = el.getAttribute("aria-pressed") === "true";
    secret.textContent = shown ? "••••••••" : secret.getAttribute("data-value");
    el.setAttribute("aria-pressed", shown ? "false" : "true");
    el.textContent = shown ? "Reveal" : "Hide";
  }

  if (el.hasAttribute("data-copy")) {
    var input = document.querySelector(el.getAttribute("data-copy"));
    var done = function () {
      el.textContent = "Copied";
      el.classList.add("copied");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select();
        if (document.execCommand("copy")) done();
      });
    } else {
      // Plain http on a LAN address is not a secure context: the old way still works.
      input.select();
      if (document.execCommand("copy")) done();
    }
  }

  if (el.hasAttribute("data-edit-key")) {
    document.getElementById("env-key").value = el.getAttribute("data-edit-key");
    var value = document.getElementById("env-value");
    value.value = el.getAttribute("data-edit-value");
    value.focus();
    value.scrollIntoView({ block: "center" });
  }
});

// Key form: the site checkboxes matter only for "only these sites".
(function () {
  var choice = document.querySelector(".sites-choice");
  if (!choice) return;
  var sync = function () {
    var picked = document.querySelector('input[name="access"]:checked');
    choice.classList.toggle("off", !picked || picked.value !== "sites");
  };
  document.querySelectorAll('input[name="access"]').forEach(function (r) {
    r.addEventListener("change", sync);
  });
  sync();
})();

// Analytics filters apply as soon as one changes.
document.querySelectorAll("form.filters select").forEach(function (s) {
  s.addEventListener("change", function () {
    s.form.submit();
  });
});
