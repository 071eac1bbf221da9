// A ledger check or import running in the background (templates/ledger/job.html): poll its JSON every
// second, move the progress bar, and show the outcome page once it has finished. Without JavaScript the
// page reloads itself instead (<noscript> refresh).
(function () {
  var box = document.getElementById("import-job");
  if (!box) {
    return;
  }
  var bar = document.getElementById("job-progress");
  var set = function (id, text) { document.getElementById(id).textContent = text; };

  function poll() {
    fetch(box.getAttribute("data-job-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (job) {
        box.setAttribute("data-state", job.state);
        box.setAttribute("data-phase", job.phase || "");
        set("job-label", job.label);
        set("job-done", job.done);
        set("job-total", job.total || "…");
        set("job-percent", job.percent);
        bar.max = job.total || 1;
        bar.value = job.done;
        bar.textContent = job.percent + "%";
        if (job.finished) {
          window.location.replace(job.url);
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
