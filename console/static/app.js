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
  document.addEventListener("htmx:sendError", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.type === "checkbox") { elt.checked = !elt.checked; }
    showToast("The console could not reach the server. Check your connection.", "error");
  });
})();
