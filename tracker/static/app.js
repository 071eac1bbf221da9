// Confirm destructive actions: any form whose submit button (or the form) has data-confirm.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = event.submitter;
  var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
// Filter selects submit their form at once (no JS needed without it: there is a button too).
document.querySelectorAll("form.filter-bar select[data-autosubmit]").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
});
