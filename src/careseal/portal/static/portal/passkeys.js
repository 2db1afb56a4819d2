// Passkey registration and sign-in for the patient portal. WebAuthn has no
// form-based interface, so this is the portal's only script. It uses the
// JSON helpers of WebAuthn Level 3 and hides its buttons where they are missing.
"use strict";

(function () {
  const supported = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  function csrfToken(form) {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  async function post(url, form, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(form)},
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) {
      throw new Error(data.error || "request failed");
    }
    return data;
  }

  function report(form, message) {
    const status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = message;
    }
  }

  async function register(form) {
    const options = await post(form.dataset.optionsUrl, form);
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
    });
    await post(form.dataset.verifyUrl, form, credential.toJSON());
    report(form, form.dataset.doneMessage);
  }

  async function signIn(form) {
    const options = await post(form.dataset.optionsUrl, form);
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
    });
    const result = await post(form.dataset.verifyUrl, form, credential.toJSON());
    window.location.assign(result.redirect);
  }

  for (const form of document.querySelectorAll("form[data-passkey]")) {
    if (!supported) {
      form.hidden = true;
      continue;
    }
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const action = form.dataset.passkey === "register" ? register : signIn;
      action(form).catch(function () {
        report(form, form.dataset.errorMessage);
      });
    });
  }
})();
