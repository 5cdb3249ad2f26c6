// Isoflop's page behaviour, loaded once by base.html (no inline scripts: the pages send a strict CSP).
// - figures: <div data-figure="ID"> plus {{ fig|json_script:"ID" }}
// - live progress: one poller for every element with data-poll-url (jobs, reports)
// - forms: run selection for the compare view, the upload drop zone
(function () {
  "use strict";

  var Isoflop = (window.Isoflop = window.Isoflop || {});

  Isoflop.readJson = function (id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  };

  function renderFigures() {
    document.querySelectorAll("[data-figure]").forEach(function (div) {
      var fig = Isoflop.readJson(div.dataset.figure);
      if (!fig) return;
      if (typeof Plotly === "undefined") {
        div.textContent = "The chart library did not load; the table below has the same numbers.";
        return;
      }
      Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }

  // Poll `url` every `interval` ms while `render(body)` returns true; back off on network errors.
  Isoflop.poll = function (url, render, interval) {
    interval = interval || 1000;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (body) {
          if (render(body)) setTimeout(tick, interval);
        })
        .catch(function () {
          setTimeout(tick, interval * 5);
        });
    }
    setTimeout(tick, interval / 2);
  };

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  var JOB_TERMINAL = ["done", "failed", "partial"];

  // Inside one file: "parsing (12 s)" (the parser is one step), then rows stored of rows parsed.
  function fileProgress(p) {
    var div = el("div", undefined, "file-progress");
    if (p.stage === "storing" && p.rows_total) {
      var bar = document.createElement("progress");
      bar.max = p.rows_total;
      bar.value = p.rows_done;
      div.append("storing: ", bar, " " + p.rows_done.toLocaleString() + " / " + p.rows_total.toLocaleString() + " rows");
    } else {
      div.textContent = p.stage + " (" + Math.round(p.seconds) + " s)";
    }
    return div;
  }

  function renderJob(root, job) {
    root.querySelector("[data-job-status]").textContent = job.status;
    var bar = root.querySelector("progress");
    bar.max = job.bytes_total || 1;
    bar.value = job.bytes_done;
    root.querySelector("[data-job-counts]").textContent =
      job.files_done + " / " + job.files_total + " files, " + job.bytes_done + " / " + job.bytes_total +
      " bytes, " + job.rows_done + " rows";
    var body = root.querySelector("tbody");
    body.replaceChildren.apply(
      body,
      job.files.map(function (f) {
        var tr = document.createElement("tr");
        var errs = document.createElement("td");
        var ul = el("ul", undefined, "errors");
        f.errors.forEach(function (e) {
          ul.appendChild(el("li", e.file + (e.line ? ", line " + e.line : "") + ": " + e.reason));
        });
        errs.appendChild(ul);
        var status = el("td", f.status, "status-" + f.status);
        if (f.progress) status.appendChild(fileProgress(f.progress));
        var outputs = el("td", undefined, "outputs");
        (f.outputs || []).forEach(function (o) {
          var a = el("a", o.kind + " " + o.name, "out-" + o.kind);
          a.href = o.url;
          outputs.append(a, " ");
        });
        tr.dataset.file = f.id;
        tr.append(
          el("td", (f.archive ? "\u21b3 " : "") + f.name),
          status,
          el("td", f.format || "\u2013"),
          el("td", String(f.size)),
          el("td", String(f.rows_done)),
          outputs,
          errs
        );
        return tr;
      })
    );
    return JOB_TERMINAL.indexOf(job.status) < 0;
  }

  function renderReportRow(row, p) {
    row.dataset.status = p.status;
    var status = row.querySelector(".report-status");
    if (status) {
      status.textContent = p.status_label || p.status;
      status.parentNode.className = "status-" + p.status;
    }
    var error = row.querySelector(".report-error");
    if (error) error.textContent = p.error;
    row.querySelector("progress").value = p.progress;
    row.querySelector(".stage").textContent = p.stage;
    var files = row.querySelector(".files");
    files.textContent = "";
    Object.keys(p.files).forEach(function (fmt) {
      var a = el("a", fmt);
      a.href = p.files[fmt].url;
      files.appendChild(a);
      files.appendChild(document.createTextNode(" "));
    });
    if (p.status === "failed") files.textContent = p.error;
    return p.status === "queued" || p.status === "running";
  }

  var RENDERERS = { job: renderJob, report: renderReportRow };

  function startPollers() {
    document.querySelectorAll("[data-poll-url]").forEach(function (node) {
      var render = RENDERERS[node.dataset.pollKind];
      if (!render || node.dataset.pollDone === "true") return;
      Isoflop.poll(node.dataset.pollUrl, function (body) {
        return render(node, body);
      }, Number(node.dataset.pollInterval || 1000));
    });
  }

  function compareForm() {
    var form = document.getElementById("compare-form");
    if (!form) return;
    // Checkboxes are gathered into one "ids=1,2,3" parameter, the form the compare page expects.
    form.addEventListener("submit", function () {
      var ids = Array.prototype.map.call(form.querySelectorAll(".compare-pick:checked"), function (c) {
        return c.value;
      });
      form.querySelector("[name=ids]").value = ids.join(",");
    });
  }

  function dropzone() {
    var zone = document.getElementById("dropzone");
    var input = document.getElementById("files");
    var chosen = document.getElementById("chosen");
    if (!zone || !input || !chosen) return;
    function show() {
      chosen.replaceChildren.apply(
        chosen,
        Array.from(input.files).map(function (f) {
          return el("li", f.name + " (" + f.size + " bytes)");
        })
      );
    }
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) {
        e.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) {
        e.preventDefault();
        zone.classList.remove("over");
      });
    });
    zone.addEventListener("drop", function (e) {
      input.files = e.dataTransfer.files;
      show();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderFigures();
    startPollers();
    compareForm();
    dropzone();
  });
})();
