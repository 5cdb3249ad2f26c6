// Renders every figure a catalog page embeds: <div data-figure="ID"> plus <script id="ID" type="application/json">.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-figure]").forEach(function (div) {
    var script = document.getElementById(div.dataset.figure);
    if (!script) { return; }
    if (typeof Plotly === "undefined") {
      div.textContent = "The chart library did not load; the table below has the same numbers.";
      return;
    }
    var fig = JSON.parse(script.textContent);
    Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
  });
});
