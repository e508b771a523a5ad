/* Comptoir on a partner's own page (docs/embedding.md).

   The shop in the page:
     <div data-comptoir-shop data-partner="SLUG" data-path="products"></div>
     <script src="https://SHOP/static/js/embed.js" async></script>
   A buy button that opens the shop over the page:
     <script src="https://SHOP/static/js/embed.js" data-partner="SLUG" data-product="CODE"
             data-label="Buy Office" async></script>
   (or <button type="button" data-comptoir-buy data-partner="SLUG" data-product="CODE">).

   The page hears what happens as DOM events on document: "comptoir:size", "comptoir:cart-changed",
   "comptoir:checkout-started", "comptoir:order-paid" (event.detail carries the message). Messages
   are accepted only from the shop's origin and from the frame this script made. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var shopOrigin = new URL(script.src, window.location.href).origin;
  var ORDER_HASH = /(?:^#|&)comptoir-order=([0-9a-f-]{36})/;
  var french = (document.documentElement.lang || "fr").slice(0, 2) !== "en";
  var frames = [];

  function frameUrl(partner, path) {
    var url = new URL(shopOrigin + "/embed/" + encodeURIComponent(partner) + "/" + (path || ""));
    url.searchParams.set("origin", window.location.origin);
    url.searchParams.set("return", window.location.href.split("#")[0]);
    return url.toString();
  }

  function makeFrame(partner, path, title) {
    var frame = document.createElement("iframe");
    frame.src = frameUrl(partner, path);
    frame.title = title;
    frame.setAttribute("allow", "payment");
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.minHeight = "480px";
    frame.style.display = "block";
    frames.push(frame);
    return frame;
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== shopOrigin || !e.data || e.data.source !== "comptoir") { return; }
    var frame = null;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === e.source) { frame = frames[i]; }
    }
    if (frame === null) { return; }
    if (e.data.type === "size" && typeof e.data.height === "number" && frame.getAttribute("data-fixed") === null) {
      frame.style.height = Math.max(200, Math.min(e.data.height, 20000)) + "px";
    }
    var detail = {};
    for (var key in e.data) { if (key !== "source") { detail[key] = e.data[key]; } }
    document.dispatchEvent(new CustomEvent("comptoir:" + e.data.type, { detail: detail }));
  });

  // --- the shop in the page ---------------------------------------------------------------------
  function mountInline(holder) {
    if (holder.getAttribute("data-comptoir-mounted")) { return; }
    holder.setAttribute("data-comptoir-mounted", "1");
    var returning = ORDER_HASH.exec(window.location.hash);
    var path = returning ? "checkout/return/" + returning[1] : holder.getAttribute("data-path") || "";
    holder.appendChild(makeFrame(holder.getAttribute("data-partner"), path,
                                 holder.getAttribute("data-title") || "Shop"));
  }

  // --- the buy button and its dialog -----------------------------------------------------------
  var dialog = null;
  var lastButton = null;

  function closeDialog() {
    if (!dialog) { return; }
    dialog.remove();
    frames = frames.filter(function (f) { return document.body.contains(f); });
    dialog = null;
    document.documentElement.style.overflow = "";
    if (lastButton) { lastButton.focus(); }
  }

  function openDialog(partner, path, label) {
    closeDialog();
    dialog = document.createElement("div");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-label", label);
    dialog.className = "comptoir-dialog";
    var s = dialog.style;
    s.position = "fixed"; s.inset = "0"; s.zIndex = "2147483000"; s.display = "flex";
    s.alignItems = "center"; s.justifyContent = "center"; s.background = "rgba(15, 23, 42, 0.6)";
    // On a phone the shop takes the whole screen under a toolbar that names it and closes it;
    // elsewhere a large panel over the page, with a round close button above its corner.
    var phone = window.matchMedia("(max-width: 640px)").matches;
    s.flexDirection = "column";
    var panel = document.createElement("div");
    var p = panel.style;
    p.background = "#fff"; p.overflow = "hidden"; p.display = "flex"; p.flexDirection = "column";
    p.width = phone ? "100vw" : "min(960px, calc(100vw - 32px))";
    p.height = phone ? "100dvh" : "min(86vh, 880px)";
    p.borderRadius = phone ? "0" : "8px"; p.boxShadow = "0 20px 50px rgba(15, 23, 42, 0.35)";
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", french ? "Fermer" : "Close");
    var c = close.style;
    c.cursor = "pointer"; c.font = "600 16px/1 system-ui, sans-serif"; c.color = "#0f172a";
    c.background = "#fff"; c.border = "1px solid #cbd5e1";
    var frame = makeFrame(partner, path, label);
    frame.setAttribute("data-fixed", "");
    frame.style.flex = "1"; frame.style.width = "100%"; frame.style.minHeight = "0";
    if (phone) {
      var bar = document.createElement("div");
      var b = bar.style;
      b.display = "flex"; b.alignItems = "center"; b.justifyContent = "space-between";
      b.gap = "8px"; b.padding = "8px 12px"; b.background = "#f8fafc";
      b.borderBottom = "1px solid #e2e8f0"; b.font = "600 15px/1.3 system-ui, sans-serif";
      b.color = "#0f172a";
      var title = document.createElement("span");
      title.textContent = label;
      close.textContent = french ? "Fermer ×" : "Close ×";
      c.padding = "8px 12px"; c.borderRadius = "6px";
      bar.appendChild(title);
      bar.appendChild(close);
      panel.appendChild(bar);
    } else {
      close.textContent = "×";
      c.width = "40px"; c.height = "40px"; c.borderRadius = "50%"; c.font = "26px/1 system-ui, sans-serif";
      c.boxShadow = "0 2px 6px rgba(15, 23, 42, 0.25)"; c.alignSelf = "flex-end";
      c.margin = "0 calc((100vw - min(960px, calc(100vw - 32px))) / 2 - 20px) 8px 0";
      dialog.appendChild(close);
    }
    panel.appendChild(frame);
    dialog.appendChild(panel);
    dialog.addEventListener("click", function (e) { if (e.target === dialog) { closeDialog(); } });
    dialog.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); closeDialog(); return; }
      if (e.key === "Tab") {  // keep the focus inside the dialog: the frame and the close button
        var inside = [close, frame];
        var at = inside.indexOf(document.activeElement);
        if (e.shiftKey && at <= 0) { e.preventDefault(); frame.focus(); }
        else if (!e.shiftKey && at === inside.length - 1) { e.preventDefault(); close.focus(); }
      }
    });
    document.body.appendChild(dialog);
    document.documentElement.style.overflow = "hidden";
    close.focus();
  }

  function wireButton(button) {
    if (button.getAttribute("data-comptoir-wired")) { return; }
    button.setAttribute("data-comptoir-wired", "1");
    button.addEventListener("click", function () {
      lastButton = button;
      var product = button.getAttribute("data-product");
      openDialog(button.getAttribute("data-partner"),
                 product ? "products/" + encodeURIComponent(product) : "",
                 button.getAttribute("aria-label") || button.textContent.trim() || "Shop");
    });
  }

  if (script.getAttribute("data-partner") && script.getAttribute("data-product")) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "comptoir-buy";
    button.textContent = script.getAttribute("data-label") || (french ? "Acheter" : "Buy");
    button.setAttribute("data-comptoir-buy", "");
    button.setAttribute("data-partner", script.getAttribute("data-partner"));
    button.setAttribute("data-product", script.getAttribute("data-product"));
    script.parentNode.insertBefore(button, script.nextSibling);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-comptoir-shop]"), mountInline);
    Array.prototype.forEach.call(document.querySelectorAll("[data-comptoir-buy]"), wireButton);
    var returning = ORDER_HASH.exec(window.location.hash);
    var first = document.querySelector("[data-comptoir-buy]");
    if (returning && first && !document.querySelector("[data-comptoir-shop]")) {
      lastButton = first;  // back from paying in another window: show the order
      openDialog(first.getAttribute("data-partner"), "checkout/return/" + returning[1],
                 french ? "Votre commande" : "Your order");
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
