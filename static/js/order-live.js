// Follow an order until there is nothing left to wait for: ask its status now and then, and when
// what the page shows has changed, fetch the page again and swap its live region in place (no
// reload: the reader keeps their place), saying the news in the status line.
(function () {
  "use strict";
  var region = document.querySelector("[data-live-order]");
  if (!region || !region.hasAttribute("data-following") || !window.fetch || !window.DOMParser) {
    return;
  }
  var note = document.querySelector("[data-live-note]");
  var statusUrl = region.getAttribute("data-status-url");
  var version = region.getAttribute("data-version");
  var started = Date.now();
  var FAST = 2000, SLOW = 10000, FAST_FOR = 60 * 1000, GIVE_UP = 30 * 60 * 1000;

  function say(text) {
    if (note) { note.hidden = false; note.textContent = text; }
  }

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-order]");
        if (!fresh) { return; }
        region.innerHTML = fresh.innerHTML;
        region.setAttribute("data-version", fresh.getAttribute("data-version") || "");
        if (fresh.hasAttribute("data-following")) { region.setAttribute("data-following", ""); }
        else { region.removeAttribute("data-following"); }
        say(fresh.getAttribute("data-live-summary") || "");
      });
  }

  function next(delay) { window.setTimeout(tick, delay); }

  function tick() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) { return next(SLOW); }
        var changed = status.version !== version ? refresh() : Promise.resolve();
        version = status.version;
        return changed.then(function () {
          var age = Date.now() - started;
          if (status.following && age < GIVE_UP) { next(age < FAST_FOR ? FAST : SLOW); }
        });
      })
      .catch(function () { next(SLOW); });
  }

  say(region.getAttribute("data-live-summary") + " " + (note && note.getAttribute("data-following-text") || ""));
  next(FAST);
})();
