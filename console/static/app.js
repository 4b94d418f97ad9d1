/* Companin console: toasts, confirmations, copy buttons. No framework, no CDN. */
(function () {
  "use strict";

  var LEVELS = ["success", "info", "warning", "error"];

  function toastBox() {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.className = "toasts";
      document.body.appendChild(box);
    }
    return box;
  }

  function dismissLater(el, ms) {
    setTimeout(function () {
      el.classList.add("is-leaving");
      setTimeout(function () { el.remove(); }, 300);
    }, ms);
  }

  function showToast(message, level) {
    level = LEVELS.indexOf(level) >= 0 ? level : "info";
    var el = document.createElement("div");
    el.className = "toast toast-" + level;
    el.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    el.appendChild(text);
    el.appendChild(close);
    toastBox().appendChild(el);
    dismissLater(el, level === "error" || level === "warning" ? 8000 : 5000);
  }
  window.companinToast = showToast;

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(function (el) {
      dismissLater(el, el.classList.contains("toast-error") ? 8000 : 5000);
    });
  });

  // HX-Trigger: {"toast": {"message": "...", "level": "success"}}
  document.addEventListener("toast", function (evt) {
    var d = evt.detail || {};
    if (d.message) { showToast(d.message, d.level); }
  });

  document.addEventListener("click", function (evt) {
    var close = evt.target.closest(".toast-close");
    if (close) { close.parentElement.remove(); return; }

    var dismiss = evt.target.closest("[data-action='dismiss']");
    if (dismiss) {
      var panel = dismiss.closest(".citation-panel");
      if (panel) { panel.innerHTML = ""; }
      return;
    }

    var back = evt.target.closest("[data-action='back']");
    if (back) { evt.preventDefault(); history.back(); return; }

    var copy = evt.target.closest("[data-copy]");
    if (copy) {
      var field = document.querySelector(copy.getAttribute("data-copy"));
      if (!field) { return; }
      var done = function () {
        var label = copy.querySelector("span");
        if (label) { label.textContent = "Copied"; }
        copy.classList.add("is-done");
        showToast("Key copied to the clipboard.", "success");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select(); document.execCommand("copy"); done();
        });
      } else {
        field.select(); document.execCommand("copy"); done();
      }
    }
  });

  // ---- small screens: the sidebar menu sits behind a button (.nav-toggle, app.css) ----
  function setMenu(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    if (menu) { menu.classList.toggle("is-open", open); }
  }

  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest(".nav-toggle");
    if (toggle) { setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true"); }
  });

  // Escape inside the open menu closes it and hands focus back to its button.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") { return; }
    var toggle = document.querySelector(".nav-toggle[aria-expanded='true']");
    if (!toggle || toggle.offsetParent === null) { return; }
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    var here = document.activeElement;
    if (here === toggle || (menu && menu.contains(here))) {
      setMenu(toggle, false);
      toggle.focus();
    }
  });

  // <form data-confirm="Are you sure?">: ask before a destructive post.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      evt.preventDefault();
    }
  }, true);

  // A refused HTMX change (403, 409, ...) must not leave a switch showing the wrong state.
  document.addEventListener("htmx:responseError", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.type === "checkbox") { elt.checked = !elt.checked; }
  });
  // A 422 answer is a form re-rendered with its errors inline: swap it in like a 200.
  // (Errors raised elsewhere carry HX-Reswap: none and stay a toast.)
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status === 422 && xhr.getResponseHeader("HX-Reswap") !== "none") {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  document.addEventListener("htmx:sendError", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.type === "checkbox") { elt.checked = !elt.checked; }
    showToast("The console could not reach the server. Check your connection.", "error");
  });

  // ---- <form data-upload>: several files, one request each -------------------------
  // Each file gets its own progress bar (XMLHttpRequest upload events); the server answers
  // with the new source's table row, which then polls its own status (hx-trigger) until
  // the background job settles. Without JavaScript the form posts all files at once.
  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  function triggeredToast(xhr) {
    var raw = xhr.getResponseHeader("HX-Trigger");
    if (!raw) { return null; }
    try { return JSON.parse(raw).toast || null; } catch (e) { return null; }
  }

  function insertRow(form, html) {
    var body = document.querySelector(form.getAttribute("data-rows"));
    if (!body) { return; }
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    var row = tpl.content.firstElementChild;
    if (!row) { return; }
    var old = row.id && document.getElementById(row.id);
    if (old) { old.remove(); }
    body.querySelectorAll(".empty-row").forEach(function (el) { el.remove(); });
    body.insertBefore(row, body.firstChild);
    if (window.htmx) { window.htmx.process(row); }
  }

  function uploadItem(list, file) {
    var li = document.createElement("li");
    li.className = "upload-item";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var note = document.createElement("span");
    note.className = "upload-note";
    note.textContent = "waiting";
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(note);
    list.appendChild(li);
    return {li: li, bar: bar, note: note};
  }

  function uploadOne(form, file, title, ui, next) {
    var data = new FormData();
    data.append("file", file, file.name);
    if (title) { data.append("title", title); }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    ui.li.classList.add("is-active");
    ui.note.textContent = "0%";
    xhr.upload.addEventListener("progress", function (evt) {
      if (!evt.lengthComputable) { return; }
      ui.bar.value = Math.round(evt.loaded * 100 / evt.total);
      ui.note.textContent = ui.bar.value + "%";
    });
    xhr.upload.addEventListener("load", function () {
      ui.bar.value = 100;
      ui.note.textContent = "uploaded, checking…";
    });
    xhr.onload = function () {
      var t = triggeredToast(xhr);
      ui.li.classList.remove("is-active");
      if (xhr.status === 401 && xhr.getResponseHeader("HX-Redirect")) {
        window.location = xhr.getResponseHeader("HX-Redirect");
        return;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        ui.li.classList.add("is-done");
        ui.note.textContent = xhr.status === 200 ? "already in the library" : "uploaded ✓ status below";
        insertRow(form, xhr.responseText);
        document.body.dispatchEvent(new CustomEvent("knowledge-changed"));
        if (t) { showToast(t.message, t.level); }
      } else {
        ui.li.classList.add("is-failed");
        ui.note.textContent = t ? t.message : "Upload refused (HTTP " + xhr.status + ").";
        ui.note.setAttribute("role", "alert");
      }
      next();
    };
    xhr.onerror = function () {
      ui.li.classList.remove("is-active");
      ui.li.classList.add("is-failed");
      ui.note.textContent = "The server could not be reached.";
      next();
    };
    xhr.send(data);
  }

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.hasAttribute || !form.hasAttribute("data-upload") || !window.FormData) { return; }
    var input = form.querySelector("input[type=file]");
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) { return; }
    evt.preventDefault();
    var list = form.querySelector(".upload-list");
    list.innerHTML = "";
    var titleField = form.querySelector("[name=title]");
    var title = files.length === 1 && titleField ? titleField.value.trim() : "";
    var queue = files.map(function (file) { return {file: file, ui: uploadItem(list, file)}; });
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    (function next() {
      var item = queue.shift();
      if (!item) {
        if (button) { button.disabled = false; }
        form.reset();
        form.dispatchEvent(new Event("change", {bubbles: true}));
        return;
      }
      uploadOne(form, item.file, title, item.ui, next);
    })();
  });

  // Show which files are picked (or dropped) in the drop zone.
  document.addEventListener("change", function (evt) {
    var form = evt.target.closest && evt.target.closest("form[data-upload]");
    if (!form) { return; }
    var input = form.querySelector("input[type=file]");
    var label = form.querySelector(".dropzone-picked");
    if (!label) { return; }
    var n = input.files ? input.files.length : 0;
    label.textContent = n === 0 ? "" : n === 1 ? input.files[0].name
      : n + " files: " + Array.prototype.map.call(input.files, function (f) { return f.name; }).join(", ");
  });
})();

// A link to a folded thing opens it: "Improve this answer" links (low ratings, knowledge
// gaps) open the reply's form; a citation's #chunk-<id> opens a long chunk in place.
(function () {
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    if (id.indexOf("improve-") === 0 && el.tagName === "DETAILS") {
      el.open = true;
      var answer = el.querySelector("textarea");
      if (answer) answer.focus();
    } else if (id.indexOf("chunk-") === 0) {
      var more = el.querySelector("details[data-chunk-more]");
      if (more) more.open = true;
    }
  }
  document.addEventListener("DOMContentLoaded", openTarget);
  window.addEventListener("hashchange", openTarget);
})();

// A switch with hx-confirm (pausing an assistant) flips back when the operator cancels:
// htmx would skip the request but leave the box showing the state it did not set.
document.addEventListener("htmx:confirm", function (evt) {
  var box = evt.target;
  if (!evt.detail.question || !box.matches || !box.matches("input[type=checkbox]")) return;
  evt.preventDefault();
  if (window.confirm(evt.detail.question)) {
    evt.detail.issueRequest(true);
  } else {
    box.checked = !box.checked;
  }
});

// <select data-autosubmit> / <input type=checkbox data-autosubmit>: a change submits its
// form (no inline onchange handlers: the console's CSP refuses inline script).
document.addEventListener("change", function (evt) {
  var el = evt.target;
  if (!el.matches || !el.matches("[data-autosubmit]") || !el.form) return;
  if (el.form.requestSubmit) { el.form.requestSubmit(); } else { el.form.submit(); }
});
