/* The shop inside a partner's page (served under /embed/<slug>/): tell the embedding page what
   happens, and only that page. The origin comes from the server, which keeps it only when it is
   one of the partner's embed origins; with none, nothing is ever posted. Messages to the frame
   are accepted from that origin only. */
(function () {
  "use strict";
  var body = document.body;
  var parentOrigin = body.getAttribute("data-embed-parent");
  var inFrame = window.parent && window.parent !== window;

  function post(type, detail) {
    if (!inFrame || !parentOrigin) { return; }
    var message = { source: "comptoir", type: type };
    for (var key in detail || {}) { message[key] = detail[key]; }
    window.parent.postMessage(message, parentOrigin);
  }

  // Size: the embedding page resizes the frame to its content.
  var lastHeight = 0;
  function reportSize() {
    var height = Math.ceil(document.documentElement.scrollHeight);
    if (height !== lastHeight) { lastHeight = height; post("size", { height: height }); }
  }
  if (window.ResizeObserver) { new ResizeObserver(reportSize).observe(document.body); }
  window.addEventListener("load", reportSize);
  reportSize();

  // What this page is: a checkout that started, an order that is paid.
  // What happened: the page says it (checkout started, order paid), or the server kept it for
  // this page (the cart changed on the previous request).
  var events = (body.getAttribute("data-embed-event") || "").split(/\s+/);
  var order = document.querySelector("[data-order-number]");
  var number = order ? order.getAttribute("data-order-number") : null;
  var count = document.querySelector(".cart-count");
  if (events.indexOf("cart-changed") >= 0) {
    post("cart-changed", { count: count ? parseInt(count.textContent, 10) || 0 : 0 });
  }
  if (events.indexOf("checkout-started") >= 0) { post("checkout-started", { order: number }); }
  if (events.indexOf("order-paid") >= 0) { post("order-paid", { order: number }); }

  // Payment opens in a window of its own; this frame follows the order until it is paid.
  var pay = document.querySelector(".embed-pay");
  if (pay) {
    var statusUrl = pay.getAttribute("data-status-url");
    var waiting = pay.querySelector(".embed-pay__waiting");
    var opener = pay.querySelector(".embed-pay__open");
    var timer = null;
    var poll = function () {
      fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (status) {
          if (status && status.paid) { window.clearInterval(timer); window.location.assign(status.confirmation_url); }
        })
        .catch(function () { /* try again at the next tick */ });
    };
    var follow = function () {
      if (waiting) { waiting.hidden = false; }
      if (timer === null) { timer = window.setInterval(poll, 2000); }
    };
    if (opener) { opener.addEventListener("click", follow); }
    follow();
  }

  // From the embedding page: only its origin is heard.
  window.addEventListener("message", function (e) {
    if (!parentOrigin || e.origin !== parentOrigin || e.source !== window.parent) { return; }
    if (e.data && e.data.source === "comptoir-parent" && e.data.type === "hello") { reportSize(); }
  });
})();
