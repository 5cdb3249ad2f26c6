// Study pages (no inline scripts: the pages send a strict CSP).
// - the study form works as a plain form; this adds: options of the chosen kind only, the runs mode that is
//   not chosen dimmed, "add condition" / remove buttons, value placeholders per field
// - the study page polls its status (data-status-url) while a refit is queued or running, and when the fit
//   lands replaces its live part with the new one (figures drawn again), without a reload
(function () {
  "use strict";

  function studyForm() {
    var form = document.getElementById("study-form");
    if (!form) return;

    var kind = document.getElementById("study-kind");
    function showKind() {
      form.querySelectorAll(".kind-options").forEach(function (group) {
        group.hidden = group.dataset.kind !== kind.value;
      });
    }
    if (kind) {
      kind.addEventListener("change", showKind);
      showKind();
    }

    function showMode() {
      var picked = form.querySelector("input[name=selection]:checked");
      ["by-ids", "by-filter"].forEach(function (id) {
        var box = document.getElementById(id);
        if (box) box.classList.toggle("inactive", !picked || !box.contains(picked));
      });
    }
    form.querySelectorAll("input[name=selection]").forEach(function (radio) {
      radio.addEventListener("change", showMode);
    });
    // Typing in a mode's fields chooses that mode.
    var modes = { "run-ids": "runs", conditions: "filter" };
    Object.keys(modes).forEach(function (id) {
      var box = document.getElementById(id);
      if (!box) return;
      box.addEventListener("focusin", function () {
        var radio = form.querySelector("input[name=selection][value=" + modes[id] + "]");
        if (radio && !radio.checked) {
          radio.checked = true;
          showMode();
        }
      });
    });
    showMode();

    var body = document.querySelector("#conditions tbody");
    var template = document.getElementById("condition-row");
    var add = document.getElementById("add-condition");

    function placeholder(row) {
      var select = row.querySelector("select[name=cond]");
      var input = row.querySelector("input[name=cond_value]");
      var option = select.options[select.selectedIndex];
      input.placeholder = option && option.dataset.example ? "e.g. " + option.dataset.example : "";
    }
    function wire(row) {
      row.querySelector("select[name=cond]").addEventListener("change", function () {
        placeholder(row);
      });
      var remove = row.querySelector(".remove-row");
      remove.hidden = false;
      remove.addEventListener("click", function () {
        row.remove();
        if (!body.querySelector("tr")) addRow();
      });
      placeholder(row);
    }
    function addRow() {
      var row = template.content.firstElementChild.cloneNode(true);
      body.appendChild(row);
      wire(row);
      return row;
    }
    var target = document.getElementById("target-metric");
    form.querySelectorAll(".target-pick").forEach(function (button) {
      button.addEventListener("click", function () {
        target.value = button.dataset.value;
        target.focus();
      });
    });

    if (body && template && add) {
      // Without JavaScript the form shows two spare rows; with it, one, and "add condition" for more.
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr"));
      var blank = rows.filter(function (r) {
        return !r.querySelector("select").value && !r.querySelector("input").value;
      });
      if (blank.length > 1 && rows.length > 1) blank.slice(1).forEach(function (r) { r.remove(); });
      body.querySelectorAll("tr").forEach(wire);
      add.hidden = false;
      add.addEventListener("click", function () {
        addRow().querySelector("select").focus();
      });
    }
    document.body.dataset.studyForm = "ready";
  }

  function drawFigures(root) {
    root.querySelectorAll("[data-figure]").forEach(function (div) {
      var fig = window.Isoflop && window.Isoflop.readJson(div.dataset.figure);
      if (!fig || typeof Plotly === "undefined") return;
      Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }

  function liveStudy() {
    var live = document.getElementById("study-live");
    if (!live || !live.dataset.statusUrl) return;

    function progressText(status) {
      var waited = status.waited_s ? " (requested " + Math.round(status.waited_s) + " s ago)" : "";
      return status.state === "running"
        ? "Fitting on a worker\u2026" + waited
        : "Refit queued, waiting for a worker\u2026" + waited;
    }

    function land() {
      // The fit landed: take the page's live part as the server renders it now.
      return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("study-live");
          if (!fresh) return;
          live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
          live.dataset.state = fresh.dataset.state;
          live.dataset.fit = fresh.dataset.fit;
          drawFigures(live);
          document.body.dataset.fitLanded = String(Number(document.body.dataset.fitLanded || 0) + 1);
          if (fresh.dataset.state !== "idle") watch();
        })
        .catch(function () {
          setTimeout(land, 3000); // the server was briefly away: try again
        });
    }

    function watch() {
      window.Isoflop.poll(live.dataset.statusUrl, function (status) {
        var text = document.getElementById("refit-text");
        if (status.state !== "idle") {
          if (text) text.textContent = progressText(status);
          if (status.state === "running") {
            // A worker has it: the "no worker" notice rendered with the page no longer holds.
            live.querySelectorAll(".worker-notice").forEach(function (n) { n.hidden = true; });
          }
          return true;
        }
        land();
        return false;
      }, 1000);
    }

    if (live.dataset.state !== "idle") watch();
  }

  document.addEventListener("DOMContentLoaded", function () {
    studyForm();
    liveStudy();
  });
})();
