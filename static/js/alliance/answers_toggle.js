// Client page: each session's "Answers" unfolds that session's answers under its row,
// fetched the first time (sessions.views.session_answers), so a long course's page does not
// carry every answer. Without this script "Answers" is a link to the session's page.
(function () {
  "use strict";
  document.querySelectorAll("[data-answers-toggle]").forEach(function (toggle) {
    var row = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!row) return;
    var cell = row.querySelector("td");
    var loaded = false;
    toggle.setAttribute("role", "button");
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      var open = toggle.getAttribute("aria-expanded") === "true";
      if (open) {
        row.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        return;
      }
      row.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      if (loaded) return;
      loaded = true;
      cell.setAttribute("aria-busy", "true");
      fetch(toggle.getAttribute("data-answers-url"), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          cell.innerHTML = html; // rendered and escaped by the server's template
        })
        .catch(function () {
          loaded = false;
          cell.textContent = toggle.getAttribute("data-answers-failed");
        })
        .finally(function () {
          cell.removeAttribute("aria-busy");
        });
    });
  });
})();
