// The client form: live "n of N answered", the tension follow-up shown only after "yes",
// focus on the error summary, and one submission per tap. The form works without it.
(function () {
  "use strict";
  var form = document.getElementById("client-form");
  if (!form) return;
  var progress = document.getElementById("progress");
  var template = progress ? progress.getAttribute("data-template") : "";
  var items = form.querySelectorAll("[data-item]");

  function answered(group) {
    if (group.querySelector("input:checked")) return true;
    var box = group.querySelector("input[type=number]");
    return !!(box && box.value.trim() !== "");
  }

  function update() {
    var count = 0;
    items.forEach(function (group) { if (answered(group)) count += 1; });
    if (progress && template) {
      progress.textContent = template.replace("{answered}", count).replace("{total}", items.length);
    }
    form.querySelectorAll("[data-shown-if]").forEach(function (question) {
      var name = question.getAttribute("data-shown-if");
      var yes = form.querySelector('input[name="' + name + '"][value="yes"]');
      question.hidden = !(yes && yes.checked);
    });
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // A double tap sends once; the server also recognises a repeated submission.
  var sending = false;
  form.addEventListener("submit", function (event) {
    var switching = event.submitter && event.submitter.name === "language";
    if (switching) return;
    if (sending) { event.preventDefault(); return; }
    sending = true;
    window.setTimeout(function () { sending = false; }, 8000);
  });
  window.addEventListener("pageshow", function () { sending = false; update(); });
})();
