// Leash web UI: the only script besides htmx (no inline script: the CSP forbids it).
// Copy to clipboard, hide a revealed value, confirm dangerous forms.
"use strict";
document.addEventListener("click", function (event) {
  var copy = event.target.closest("[data-copy]");
  if (copy) {
    var source = document.getElementById(copy.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1500);
      });
    }
  }
  var hide = event.target.closest("[data-hide]");
  if (hide) {
    var slot = document.getElementById(hide.getAttribute("data-hide"));
    if (slot) { slot.textContent = "••••••••"; }
  }
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  var message = form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
