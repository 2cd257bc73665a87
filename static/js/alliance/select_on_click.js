// A read-only link to copy (data-select-on-click): one click selects all of it.
(function () {
  "use strict";
  document.querySelectorAll("[data-select-on-click]").forEach(function (field) {
    field.addEventListener("click", function () { field.select(); });
  });
})();
