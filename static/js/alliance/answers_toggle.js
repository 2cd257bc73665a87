// Client page: each session's "Answers" unfolds that session's answers under its row,
// fetched the first time (sessions.views.session_answers), so a long course's page does not
// carry every answer. Without this script "Answers" is a link to the session's page.
(function () {
  "use strict";
  document.querySelectorAll("[data-answers-toggle]").forEach(function (toggle) {
    var row = document.getElementById(toggle.getAttribute("data-answers-row"));
    if (!row) return;
    var cell = row.querySelector("td");
    var loaded = false;
    // The link becomes a button that unfolds the row.
    toggle.setAttribute("role", "button");
    toggle.setAttribute("aria-controls", row.id);
    toggle.setAttribute("aria-expanded", "false");
    toggle.addEventListener("keydown", function (event) {
      if (event.key === " ") {
        event.preventDefault();
        toggle.click();
      }
    });
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
      // A redirect (to the login page, after the idle timeout) is a failure, not answers.
      fetch(toggle.getAttribute("data-answers-url"), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        redirect: "manual",
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
