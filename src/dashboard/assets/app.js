// The dashboard's little JS: confirmations, revealing masked values, copying the new token,
// filling the env var form for editing, and deploying a folder or a zip from the Hosting page.
// Pages work without it, only less comfortably (the browser deploy needs it).
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

// Hosting: deploy a folder or a zip from the browser. A folder's files go as `files` parts
// named by their path inside the folder, a zip as `file`, after `site_name`; dot-files and
// node_modules/ stay behind. The CSRF token goes in a header: the server checks it before it
// reads the upload.
(function () {
  var form = document.getElementById("deploy-form");
  if (!form) return;
  var site = document.getElementById("deploy-site");
  var folderInput = document.getElementById("deploy-folder");
  var zipInput = document.getElementById("deploy-zip");
  var drop = document.getElementById("deploy-drop");
  var picked = document.getElementById("deploy-picked");
  var button = document.getElementById("deploy-button");
  var progress = document.getElementById("deploy-progress");
  var result = document.getElementById("deploy-result");
  var names = document.getElementById("deploy-names");
  // What a deploy sends: { zip: File } or { files: [{ file: File, path: "a/b.js" }], left: n }.
  var chosen = null;

  var leftOut = function (path) {
    return path.split("/").some(function (part) {
      return part.charAt(0) === "." || part === "node_modules";
    });
  };
  var isZip = function (file) {
    return /\.zip$/i.test(file.name) || /zip/.test(file.type || "");
  };
  var size = function (n) {
    var units = ["B", "KB", "MB", "GB"], u = 0;
    while (n >= 1000 && u < units.length - 1) {
      n /= 1000;
      u++;
    }
    return u === 0 ? n + " B" : n.toFixed(1) + " " + units[u];
  };
  // A folder or zip name as a site name, when none is typed yet: "My Site.zip" → "my-site".
  var suggest = function (name) {
    if (site.value.trim()) return;
    site.value = name.replace(/\.zip$/i, "").toLowerCase().replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
  };
  var say = function (kind, text) {
    result.className = kind;
    result.textContent = text;
  };

  var choose = function (what, name) {
    chosen = what;
    say("", "");
    progress.hidden = true;
    if (what.zip) {
      picked.textContent = what.zip.name + " (" + size(what.zip.size) + ")";
    } else {
      what.files.sort(function (a, b) {
        return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
      });
      var bytes = what.files.reduce(function (n, f) { return n + f.file.size; }, 0);
      picked.textContent = (name ? "Folder “" + name + "”: " : "") +
        what.files.length + (what.files.length === 1 ? " file, " : " files, ") +
        size(bytes) + (what.left ? " (" + what.left + " dot-files or node_modules/ left out)" : "");
    }
    picked.className = "";
    if (name) suggest(name);
  };
  var cannot = function (text) {
    chosen = null;
    picked.textContent = "Nothing chosen yet.";
    picked.className = "muted";
    say("error", text);
  };

  // A picked folder: each file's path without the folder's own name in front.
  folderInput.addEventListener("change", function () {
    var files = [], left = 0, top = "";
    Array.prototype.forEach.call(folderInput.files, function (file) {
      var rel = file.webkitRelativePath || file.name;
      var cut = rel.indexOf("/");
      if (cut >= 0) top = rel.slice(0, cut);
      var path = cut >= 0 ? rel.slice(cut + 1) : rel;
      if (leftOut(path)) left++;
      else files.push({ file: file, path: path });
    });
    zipInput.value = "";
    choose({ files: files, left: left }, top);
  });
  zipInput.addEventListener("change", function () {
    var file = zipInput.files[0];
    folderInput.value = "";
    if (file) choose({ zip: file }, file.name);
  });

  // Drag and drop: a zip, a folder (walked through the entries API), or loose files.
  var readDir = function (dir) {
    return new Promise(function (resolve, reject) {
      var reader = dir.createReader(), all = [];
      var next = function () {
        reader.readEntries(function (batch) {
          if (!batch.length) return resolve(all);
          all = all.concat(Array.prototype.slice.call(batch));
          next();
        }, reject);
      };
      next();
    });
  };
  var walk = function (entries, prefix, out) {
    return Promise.all(entries.map(function (entry) {
      if (leftOut(entry.name)) {
        out.left++;
        return null;
      }
      var path = prefix + entry.name;
      if (entry.isDirectory) {
        return readDir(entry).then(function (kids) { return walk(kids, path + "/", out); });
      }
      return new Promise(function (resolve, reject) {
        entry.file(function (file) {
          out.files.push({ file: file, path: path });
          resolve();
        }, reject);
      });
    }));
  };
  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (e) {
      e.preventDefault();
      drop.classList.add("over");
    });
  });
  // A drop that misses the zone must not navigate away to the dropped file.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (e) { e.preventDefault(); });
  });
  drop.addEventListener("dragleave", function () {
    drop.classList.remove("over");
  });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    drop.classList.remove("over");
    var entries = [];
    // Entries must be taken now: the list is emptied once this handler returns.
    Array.prototype.forEach.call(e.dataTransfer.items || [], function (item) {
      var entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
      if (entry) entries.push(entry);
    });
    var files = e.dataTransfer.files;
    if (!entries.length) {
      if (files.length === 1 && isZip(files[0])) choose({ zip: files[0] }, files[0].name);
      else cannot("Drop a folder or a .zip file.");
      return;
    }
    if (entries.length === 1 && entries[0].isFile && isZip(entries[0])) {
      entries[0].file(function (f) { choose({ zip: f }, f.name); }, function () {
        cannot("The dropped file could not be read.");
      });
      return;
    }
    var out = { files: [], left: 0 };
    var root = entries.length === 1 && entries[0].isDirectory ? entries[0] : null;
    picked.textContent = "Reading the folder…";
    var walked = root
      ? readDir(root).then(function (kids) { return walk(kids, "", out); })
      : walk(entries, "", out);
    walked.then(function () {
      zipInput.value = "";
      folderInput.value = "";
      choose(out, root ? root.name : "");
    }, function () {
      cannot("The dropped folder could not be read.");
    });
  });

  var upload = function (name, what) {
    var data = new FormData();
    // The name first: the server checks it before it reads the files.
    data.append("site_name", name);
    if (what.zip) data.append("file", what.zip, what.zip.name);
    else what.files.forEach(function (f) { data.append("files", f.file, f.path); });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/sites/deploy");
    xhr.setRequestHeader("X-CSRF-Token", form.getAttribute("data-csrf"));
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      progress.max = e.total;
      progress.value = e.loaded;
    });
    xhr.upload.addEventListener("load", function () {
      progress.value = progress.max;
      say("", "Uploaded; unpacking…");
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      var answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (_) { /* not JSON: a proxy's page */ }
      if (xhr.status === 200 && answer && answer.url) return deployed(answer);
      progress.hidden = true;
      say("error", (answer && answer.error) || "The server answered " + xhr.status + ".");
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      progress.hidden = true;
      say("error", "The upload did not get through: the connection broke (the server stopped, or a proxy refused the size).");
    });
    button.disabled = true;
    progress.value = 0;
    progress.hidden = false;
    say("", "Uploading…");
    xhr.send(data);
  };
  var deployed = function (a) {
    say("notice", "Deployed " + a.files + (a.files === 1 ? " file (" : " files (") + size(a.bytes) + ") as '" + a.site + "': ");
    var link = document.createElement("a");
    link.href = a.url;
    link.textContent = a.url;
    link.target = "_blank";
    link.rel = "noopener";
    var manage = document.createElement("a");
    manage.href = "/sites/" + a.site;
    manage.textContent = "its page";
    result.append(link, " · ", manage);
    if (!names.querySelector('option[value="' + a.site + '"]')) {
      var option = document.createElement("option");
      option.value = a.site;
      names.append(option);
    }
    // The list above shows the new deploy too.
    fetch("/sites", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(r.status);
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("sites-list");
      var old = document.getElementById("sites-list");
      if (fresh && old) old.replaceWith(fresh);
    }).catch(function () { /* the list stays as it was; a reload shows the deploy */ });
  };

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var name = site.value.trim();
    if (!chosen) return cannot("Choose a folder or a .zip first, or drop one above.");
    if (chosen.files && !chosen.files.length) {
      return cannot("Nothing to deploy: the folder has no files (dot-files and node_modules/ are left out).");
    }
    var bytes = chosen.zip ? chosen.zip.size : chosen.files.reduce(function (n, f) {
      return n + f.file.size;
    }, 0);
    var max = Number(form.getAttribute("data-max-upload"));
    if (max && bytes > max) {
      return cannot("That is " + size(bytes) + ": this server takes at most " +
        Math.floor(max / 1048576) + " MiB a deploy (cc-server serve --max-upload-mb).");
    }
    var live = names.querySelector('option[value="' + name + '"]');
    if (live && !window.confirm("Replace the live site '" + name + "'? Its current files are kept for a rollback.")) return;
    upload(name, chosen);
  });
})();
