// Rating form: press a number key to answer the focused item and move on to the next one.
// Tab and the arrow keys work without this script (native radio groups).
(function () {
  "use strict";
  var groups = Array.prototype.slice.call(document.querySelectorAll("fieldset[data-item]"));
  if (!groups.length) return;
  function focusGroup(group) {
    (group.querySelector("input:checked") || group.querySelector('input[type="radio"]')).focus();
  }
  // After a failed save, start at the first item that needs an answer.
  var firstError = document.querySelector("fieldset[data-item].has-error");
  if (firstError) focusGroup(firstError);
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var group = event.target.closest && event.target.closest("fieldset[data-item]");
    if (!group) return;
    var radio = group.querySelector('input[type="radio"][value="' + event.key + '"]');
    if (!radio) return;
    event.preventDefault();
    radio.checked = true;
    var next = groups[groups.indexOf(group) + 1];
    if (next) {
      focusGroup(next);
    } else {
      document.querySelector("[data-rating-submit]").focus();
    }
  });
})();
