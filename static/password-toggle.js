// Show-password toggle: a button beside each password field that shows what was typed, and hides it again.
// Added by this script only, so with JavaScript off the form is unchanged (and still works).
// The name says what a press does ("Show password" / "Hide password"); aria-pressed says the state.
// Those names come translated from the script tag's data-show-label / data-hide-label (templates/base.html).
(function () {
  "use strict";

  var script = document.currentScript;
  var labels = {
    show: (script && script.dataset.showLabel) || "Show password",
    hide: (script && script.dataset.hideLabel) || "Hide password",
  };

  function setShown(input, button, shown) {
    input.type = shown ? "text" : "password";
    button.textContent = shown ? labels.hide : labels.show;
    button.setAttribute("aria-pressed", shown ? "true" : "false");
  }

  function addToggle(input) {
    var wrap = document.createElement("div");
    wrap.className = "password-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    // Moving the field drops it from the browser's autofocus candidates: give the focus it was meant to have.
    if (input.autofocus && (!document.activeElement || document.activeElement === document.body)) {
      input.focus();
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button password-toggle";
    button.setAttribute("aria-controls", input.id);
    wrap.appendChild(button);
    setShown(input, button, false);
    button.addEventListener("click", function () {
      setShown(input, button, input.type === "password");
    });
    // Never send the form with the password left on show: a browser could offer to save it as plain text.
    if (input.form) {
      input.form.addEventListener("submit", function () {
        setShown(input, button, false);
      });
    }
  }

  document.querySelectorAll("input[type=password][id]").forEach(addToggle);
})();
