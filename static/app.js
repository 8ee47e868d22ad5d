// Herald admin panel: small enhancements only. Every action works without
// this script (forms post, links navigate); it adds copy buttons, confirm
// dialogs, local times, the tenant switcher's auto-submit and auto-refresh.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Times: show them in the reader's locale; the UTC text stays as the title.
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        el.textContent = d.toLocaleString(undefined, {
          year: "numeric", month: "short", day: "numeric",
          hour: "2-digit", minute: "2-digit", second: "2-digit"
        });
      }
    });

    // Copy buttons: data-copy="<id of the element whose text to copy>".
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var el = document.getElementById(btn.getAttribute("data-copy"));
        if (!el) return;
        var text = el.textContent;
        var done = function () {
          var old = btn.textContent;
          btn.textContent = "Copied ✓";
          setTimeout(function () { btn.textContent = old; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { fallback(el); done(); });
        } else {
          fallback(el);
          done();
        }
      });
    });
    function fallback(el) {
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { document.execCommand("copy"); } catch (e) { /* selected for the user */ }
    }

    // Confirm dialogs: data-confirm on a submit button.
    document.querySelectorAll("[data-confirm]").forEach(function (btn) {
      btn.addEventListener("click", function (ev) {
        if (!window.confirm(btn.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });

    // The tenant switcher submits when a tenant is picked.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.form) sel.form.submit(); });
    });

    // "All events" checks off the individual types (they are implied).
    var all = document.querySelector("input[data-all-events]");
    if (all) {
      var others = Array.prototype.slice.call(
        document.querySelectorAll("fieldset.events input[type=checkbox]")
      ).filter(function (c) { return c !== all; });
      var sync = function () {
        others.forEach(function (c) {
          c.disabled = all.checked;
          c.closest("label").classList.toggle("is-implied", all.checked);
        });
      };
      all.addEventListener("change", sync);
      sync();
    }

    // Auto-refresh of the delivery log, remembered per browser.
    var auto = document.querySelector("input[data-autorefresh]");
    if (auto) {
      var key = "herald.autorefresh";
      var timer = null;
      var arm = function () {
        if (timer) clearTimeout(timer);
        timer = auto.checked ? setTimeout(function () { window.location.reload(); }, 5000) : null;
      };
      try { auto.checked = window.localStorage.getItem(key) === "1"; } catch (e) { /* private mode */ }
      auto.addEventListener("change", function () {
        try { window.localStorage.setItem(key, auto.checked ? "1" : "0"); } catch (e) { /* ignore */ }
        arm();
      });
      arm();
    }
  });
})();
