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
// Pickers of people, units and sources (tracker/pickers): Tom Select searches a short list in the page
// and a long one through its JSON search (data-picker-url) as the user types; the <select> keeps its
// name and sends the chosen id as before. Without JavaScript they stay plain selects.
(function () {
  if (typeof TomSelect === "undefined") {
    return;
  }
  function keepEmptyAndChosen(option, value) {
    return value === "" || this.items.indexOf(value) >= 0;
  }
  document.querySelectorAll("select[data-picker]").forEach(function (el) {
    var url = el.getAttribute("data-picker-url");
    var settings = {
      allowEmptyOption: true, maxOptions: null, plugins: el.multiple ? ["remove_button"] : [],
      // While a name is typed, it stands in the box alone (not after the current choice).
      onType: function (text) { this.wrapper.classList.toggle("picker-typing", !!text); },
      onDropdownClose: function () { this.wrapper.classList.remove("picker-typing"); }
    };
    if (url) {
      var none = el.getAttribute("data-picker-none") || "";
      Object.assign(settings, {
        valueField: "value", labelField: "text", searchField: ["text"],
        preload: "focus", loadThrottle: 250,
        shouldLoad: function () { return true; },  // an empty search lists the first ones
        // The server matched and ordered them; "All" (the empty choice) only while nothing is typed.
        score: function (search) { return function (item) { return search && item.value === "" ? 0 : 1; }; },
        load: function (query, callback) {
          var self = this;
          fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(query),
                {credentials: "same-origin", headers: {"Accept": "application/json"}})
            .then(function (response) { return response.ok ? response.json() : {items: []}; })
            .then(function (data) {
              if ((query || "").trim() !== self.inputValue()) {  // an answer overtaken by what was typed since
                callback();
                return;
              }
              self.clearOptions(keepEmptyAndChosen);
              callback(data.items || []);
            })
            .catch(function () { callback(); });
        },
        render: {
          no_results: function () {
            var div = document.createElement("div");
            div.className = "no-results";
            div.textContent = none;
            return div;
          }
        }
      });
    }
    new TomSelect(el, settings);
  });
})();
