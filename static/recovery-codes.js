/* New recovery codes: Copy and Print buttons beside the list (templates/mfa/_recovery_codes_new.html).
 *
 * The script adds them, so without it there are no buttons that do nothing: the codes are selectable
 * text and the download link needs no script. Copy puts one code a line on the clipboard; Print uses
 * the print stylesheet in app.css.
 */
"use strict";

(function () {
  const list = document.getElementById("recovery-codes");
  const done = document.getElementById("recovery-codes-done");
  const status = document.getElementById("recovery-codes-copied");
  if (!list || !done || !status) return;
  // The page's language: the template puts each text on the status element (a script can't translate).
  const text = (name, english) => status.dataset[name] || english;

  function codes() {
    return Array.from(list.querySelectorAll("code"), (code) => code.textContent.trim()).join("\n") + "\n";
  }

  function addButton(id, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button";
    button.id = id;
    button.textContent = label;
    button.addEventListener("click", onClick);
    done.parentNode.insertBefore(button, done);
    done.parentNode.insertBefore(document.createTextNode(" "), done);
  }

  if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
    addButton("recovery-codes-copy", text("copyLabel", "Copy"), async function () {
      try {
        await navigator.clipboard.writeText(codes());
        status.textContent = text("copied", "Copied. Paste them somewhere safe.");
      } catch (error) {
        status.textContent = text("copyFailed", "Your browser did not allow copying. Select the codes and copy them instead.");
      }
    });
  }
  if (typeof window.print === "function") {
    addButton("recovery-codes-print", text("printLabel", "Print"), function () { window.print(); });
  }
})();
