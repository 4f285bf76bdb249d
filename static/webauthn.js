/* Security keys and passkeys: the WebAuthn ceremonies behind the buttons marked data-webauthn.
 *
 * The CSP allows no inline script, so every button carries what it needs in data- attributes:
 * the options and verify endpoints, the CSRF token (sent as X-CSRFToken), where to show errors.
 * data-webauthn="register" adds a key (data-passkey="1": a passkey), "authenticate" answers the
 * challenge after the password (data-trust: the id of its "Trust this browser" box, whose state
 * goes with the answer), "passkey" signs in without one. The server answers JSON:
 * {redirect} on success, {error[, redirect]} otherwise (the error already in the page's language).
 *
 * A passkey button with data-autofill="1" also offers the passkeys in the browser's autofill of the
 * field marked autocomplete="... webauthn" (conditional mediation): the same options and verify
 * endpoints, a request left pending until the person picks a passkey. Browsers allow one request at
 * a time, so the button aborts the pending one first and starts a new one once it is done.
 */
"use strict";

(function () {
  // The page's language: templates/_macros/webauthn.html puts the texts on this script's tag
  // (data-msg-*); the English ones stand in when a tag carries none.
  const given = (document.currentScript && document.currentScript.dataset) || {};
  const MESSAGES = {
    unsupported: given.msgUnsupported || "This browser can't use security keys or passkeys. Try an up-to-date browser.",
    cancelled: given.msgCancelled || "Nothing was used: the request was cancelled or timed out. Try again when you're ready.",
    duplicate: given.msgDuplicate || "That security key or passkey is already registered to your account.",
    expired: given.msgExpired || "This page has expired. Reload it and try again.",
    limited: given.msgLimited || "Too many attempts. Wait a little and try again.",
    failed: given.msgFailed || "Something went wrong. Reload the page and try again.",
  };

  class CeremonyError extends Error {
    constructor(message, redirect) {
      super(message);
      this.redirect = redirect || null;
    }
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function"
      && typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"
      && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  }

  async function post(url, csrfToken, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new CeremonyError(MESSAGES.failed);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null; // an HTML error page: a missing or stale CSRF token, a rate limit
    }
    if (!response.ok || data === null) {
      const fallback = { 400: MESSAGES.expired, 429: MESSAGES.limited }[response.status] || MESSAGES.failed;
      throw new CeremonyError((data && data.error) || fallback, data && data.redirect);
    }
    return data;
  }

  // What the browser's own errors mean for the person (their messages are for developers).
  function describe(error) {
    if (error instanceof CeremonyError) return error.message;
    if (error && error.name === "InvalidStateError") return MESSAGES.duplicate;
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) return MESSAGES.cancelled;
    return MESSAGES.failed;
  }

  async function register(button) {
    const nameInput = document.getElementById(button.dataset.nameInput);
    const options = await post(button.dataset.optionsUrl, button.dataset.csrf, { passkey: button.dataset.passkey === "1" });
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
    });
    return post(button.dataset.verifyUrl, button.dataset.csrf, {
      credential: credential.toJSON(),
      name: nameInput ? nameInput.value : "",
    });
  }

  function requestOptions(options) {
    return { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) };
  }

  function sendAssertion(button, credential) {
    const trustBox = button.dataset.trust ? document.getElementById(button.dataset.trust) : null;
    return post(button.dataset.verifyUrl, button.dataset.csrf, {
      credential: credential.toJSON(),
      next: button.dataset.next || "",
      trust_browser: Boolean(trustBox && trustBox.checked),
    });
  }

  async function authenticate(button) {
    const options = await post(button.dataset.optionsUrl, button.dataset.csrf, {});
    const credential = await navigator.credentials.get(requestOptions(options));
    return sendAssertion(button, credential);
  }

  function show(box, text) {
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  // The autofill's pending request, while there is one.
  let pendingAutofill = null;

  function stopAutofill() {
    if (pendingAutofill) pendingAutofill.abort();
    pendingAutofill = null;
  }

  async function startAutofill(button, errorBox) {
    if (button.dataset.autofill !== "1" || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    stopAutofill();
    const controller = new AbortController();
    pendingAutofill = controller;
    let credential;
    try {
      const options = await post(button.dataset.optionsUrl, button.dataset.csrf, {});
      credential = await navigator.credentials.get({ ...requestOptions(options), mediation: "conditional", signal: controller.signal });
    } catch (error) {
      // Aborted for the button, or no autofill after all (a rate limit, a browser quirk): the button still works.
      if (pendingAutofill === controller) pendingAutofill = null;
      return;
    }
    pendingAutofill = null;
    try {
      window.location.assign((await sendAssertion(button, credential)).redirect);
    } catch (error) {
      if (error instanceof CeremonyError && error.redirect) {
        window.location.assign(error.redirect);
        return;
      }
      show(errorBox, describe(error));
      startAutofill(button, errorBox); // the person chose: they may choose another passkey
    }
  }

  function bind(button) {
    if (button.dataset.bound) return;
    button.dataset.bound = "1";
    const errorBox = document.getElementById(button.dataset.error);
    if (!supported()) {
      button.disabled = true;
      if (button.dataset.webauthn === "passkey") button.hidden = true; // the password form still works
      else show(errorBox, MESSAGES.unsupported);
      return;
    }
    button.addEventListener("click", async function () {
      stopAutofill();
      if (errorBox) errorBox.hidden = true;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        const result = await (button.dataset.webauthn === "register" ? register(button) : authenticate(button));
        window.location.assign(result.redirect);
      } catch (error) {
        if (error instanceof CeremonyError && error.redirect) {
          window.location.assign(error.redirect);
          return;
        }
        show(errorBox, describe(error));
        button.disabled = false;
        button.removeAttribute("aria-busy");
        startAutofill(button, errorBox);
      }
    });
    startAutofill(button, errorBox);
  }

  document.querySelectorAll("button[data-webauthn]").forEach(bind);
})();
