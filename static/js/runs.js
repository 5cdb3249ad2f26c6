// The runs list: tidy filter URLs, "select all on this page" and a live count of ticked runs.
// Without JavaScript the same forms work: the filter is a GET form, the selection a POST form.
(function () {
  "use strict";

  function tidySubmit(form) {
    // The URL is the saved view: drop empty fields and send the chosen columns as one "cols" list
    // (only when they differ from the default set, which the page marks with data-default).
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = new URLSearchParams();
      var cols = [];
      var defaults = [];
      form.querySelectorAll("[name=col]").forEach(function (box) {
        if (box.dataset.default === "1") defaults.push(box.value);
        if (box.checked || box.value === "name") cols.push(box.value);
      });
      var perPage = form.querySelector("[name=per_page]");
      new FormData(form).forEach(function (value, key) {
        if (key === "col" || String(value).trim() === "") return;
        if (key === "per_page" && perPage && value === perPage.dataset.default) return;
        q.append(key, String(value).trim());
      });
      if (cols.join(",") !== defaults.join(",")) q.set("cols", cols.join(","));
      var s = q.toString();
      window.location.assign(form.action + (s ? "?" + s : ""));
    });
  }

  function selection() {
    var boxes = document.querySelectorAll(".run-pick");
    var all = document.getElementById("pick-all");
    var count = document.getElementById("selected-count");
    if (!boxes.length) return;
    function update() {
      var n = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      if (count) count.textContent = n ? n + " selected:" : "Tick runs, then:";
      if (all) {
        all.checked = n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("run-filter");
    if (form) tidySubmit(form);
    selection();
  });
})();
