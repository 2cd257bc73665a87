// Client page: each session's answers start folded; its "Answers" button unfolds them.
// Without this script every session's answers are simply shown.
(function () {
  "use strict";
  document.querySelectorAll("[data-answers-toggle]").forEach(function (button) {
    var row = document.getElementById(button.getAttribute("aria-controls"));
    if (!row) return;
    row.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") === "true";
      row.hidden = open;
      button.setAttribute("aria-expanded", String(!open));
    });
  });
})();
