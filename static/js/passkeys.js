// Passkeys for the back office: sign-in with a registered passkey, and registering a new one.
// The server sends WebAuthn options as JSON with base64url fields; this file turns them into
// the ArrayBuffers the browser wants, and the browser's answer back into base64url JSON.
(function () {
  "use strict";

  function toBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
        return data;
      });
    });
  }

  function credentialJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      out.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return out;
  }

  function showError(section, error) {
    var box = section.querySelector("[data-passkey-error]");
    var prefix = section.getAttribute("data-error-prefix") || "The passkey did not work:";
    box.textContent = prefix + " " + (error && error.message ? error.message : error);
    box.hidden = false;
  }

  function signIn(section) {
    var csrf = section.dataset.csrf;
    post(section.dataset.optionsUrl, csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
      return navigator.credentials.get({ publicKey: options });
    }).then(function (credential) {
      return post(section.dataset.verifyUrl, csrf, credentialJson(credential));
    }).then(function (answer) {
      window.location.assign(answer.redirect);
    }).catch(function (error) { showError(section, error); });
  }

  function register(section) {
    var csrf = section.dataset.csrf;
    var name = section.querySelector("[data-passkey-name]").value;
    post(section.dataset.optionsUrl, csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.user.id = toBuffer(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
      return navigator.credentials.create({ publicKey: options });
    }).then(function (credential) {
      return post(section.dataset.registerUrl, csrf, { name: name, credential: credentialJson(credential) });
    }).then(function (answer) {
      window.location.assign(answer.redirect);
    }).catch(function (error) { showError(section, error); });
  }

  document.querySelectorAll("[data-passkey-signin], [data-passkey-register]").forEach(function (section) {
    var button = section.querySelector("[data-passkey-button]");
    if (!window.PublicKeyCredential) {
      button.disabled = true;
      showError(section, section.getAttribute("data-unsupported") || "this browser does not support passkeys");
      return;
    }
    button.addEventListener("click", function () {
      if (section.hasAttribute("data-passkey-signin")) signIn(section); else register(section);
    });
  });
})();
