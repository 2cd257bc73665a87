// A job's progress page (templates/alliance/jobs/job.html): polls /jobs/<id>/status/ and
// moves the <progress> bar; once the job is finished, reloads the page, which then shows the
// download, the summary or the failure. Without JavaScript the page has a Refresh link.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job || !job.dataset.statusUrl) {
    return;
  }
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-text");
  var state = document.getElementById("job-state");
  var delay = 1000;

  function show(status) {
    if (status.percent === null) {
      bar.removeAttribute("value"); // indeterminate: the total is not known yet
      bar.textContent = "";
    } else {
      bar.value = status.percent;
      bar.textContent = status.percent + "%";
    }
    text.textContent = status.text;
    state.textContent = status.state_label;
  }

  function poll() {
    fetch(job.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        if (status.finished) {
          window.location.reload();
          return;
        }
        show(status);
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 30000); // the server is busy or away: ask less often
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
