// A page may come from the page cache, the same for every visitor: this visitor's cart count
// (and their session's CSRF token, when they have one) come from /cart/summary. Without
// JavaScript the page still works: the cached page is only ever served to a visitor with an
// empty cart, and adding to the cart is checked by origin, not by a token.
(function () {
  "use strict";
  var link = document.querySelector("[data-cart-summary]");
  if (!link || !window.fetch) {
    return;
  }
  fetch(link.getAttribute("data-cart-summary"), {
    credentials: "same-origin",
    headers: { Accept: "application/json" }
  }).then(function (response) {
    return response.ok ? response.json() : null;
  }).then(function (data) {
    if (!data) {
      return;
    }
    var count = link.querySelector(".cart-count");
    if (count) {
      count.textContent = String(data.count);
    }
    if (data.csrf_token) {
      document.querySelectorAll("form[data-csrf-fill]").forEach(function (form) {
        if (!form.querySelector("input[name=csrf_token]")) {
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = "csrf_token";
          input.value = data.csrf_token;
          form.appendChild(input);
        }
      });
    }
  }).catch(function () {});
})();
