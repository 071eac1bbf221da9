// Report preview: copy the rendered section to the clipboard (the page's CSP forbids inline scripts).
document.querySelectorAll("[data-copy-target]").forEach(function (button) {
  var label = button.querySelector("span") || button;
  var original = label.textContent;

  function show(message) {
    label.textContent = message;
    window.setTimeout(function () { label.textContent = original; }, 2000);
  }

  function fallback(target) {
    // Older browsers and plain-http sites have no async clipboard: select and use execCommand.
    target.focus();
    target.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    show(button.getAttribute(ok ? "data-copied" : "data-copy-failed"));
  }

  button.addEventListener("click", function () {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(target.value).then(function () {
        show(button.getAttribute("data-copied"));
      }, function () { fallback(target); });
    } else {
      fallback(target);
    }
  });
});
