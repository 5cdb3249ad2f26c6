// Metric curves: the server sends at most ~2,000 min/max-bucketed points; zooming asks for a re-bucketed
// window so detail appears as the range narrows, and "N of M points shown" always tells the truth.
(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function setCount(data) {
    var el = document.getElementById("curve-count");
    if (el) el.textContent = data.shown + " of " + data.total + " points shown";
  }

  function showError(message) {
    var el = document.getElementById("curve-error");
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  }

  function initCurve() {
    var div = document.getElementById("curve");
    var data = readJson("curve-data");
    if (!div || !data || !window.Plotly) return;
    var url = div.dataset.url;
    var layout = {
      margin: { t: 20, r: 20, b: 40, l: 60 },
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: div.dataset.name } },
    };
    Plotly.newPlot(div, [{ x: data.steps, y: data.values, mode: "lines", name: div.dataset.name }], layout, {
      responsive: true,
    });
    var pending = 0;
    div.on("plotly_relayout", function (ev) {
      var params = new URLSearchParams({ points: "2000" });
      if (ev["xaxis.autorange"]) {
        // reset: whole series
      } else if (ev["xaxis.range[0]"] !== undefined || Array.isArray(ev["xaxis.range"])) {
        // A drag-zoom reports xaxis.range[0]/[1]; Plotly.relayout and some controls report xaxis.range.
        var range = ev["xaxis.range"] || [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
        params.set("x0", String(Math.floor(range[0])));
        params.set("x1", String(Math.ceil(range[1])));
      } else {
        return; // y-only zoom or pan handles: nothing to re-bucket
      }
      var ticket = ++pending;
      fetch(url + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) {
          return r.json().then(function (body) {
            if (!r.ok) throw new Error(body.error || "could not load points (HTTP " + r.status + ")");
            return body;
          });
        })
        .then(function (body) {
          if (ticket !== pending) return; // a newer zoom superseded this one
          showError(body.total === 0 ? "No points in this step range." : "");
          Plotly.restyle(div, { x: [body.steps], y: [body.values] });
          setCount(body);
        })
        .catch(function (err) {
          showError(err.message);
        });
    });
  }

  function initCompare() {
    var div = document.getElementById("compare");
    var traces = readJson("compare-data");
    if (!div || !traces || !window.Plotly) return;
    Plotly.newPlot(
      div,
      traces.map(function (t) {
        return { x: t.steps, y: t.values, mode: "lines", name: t.name };
      }),
      {
        margin: { t: 20, r: 20, b: 40, l: 60 },
        xaxis: { title: { text: "step" } },
        yaxis: { title: { text: div.dataset.metric } },
      },
      { responsive: true }
    );
  }

  document.addEventListener("DOMContentLoaded", function () {
    initCurve();
    initCompare();
  });
})();
