// "Copy" next to a form link: shown only where the clipboard can be written.
(function () {
  "use strict";
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector(".formlink-copy-status");
    if (!field || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) status.textContent = button.getAttribute("data-copied");
      }, function () {
        field.select();
      });
    });
    field.addEventListener("focus", function () { field.select(); });
  });
})();
