// Metric panels on the run and compare pages (no inline scripts: the pages send a strict CSP).
//
// The server embeds #curves-data: the controls from the URL, each run's step -> x maps (tokens, FLOPs,
// time) and, per panel, one M4-downsampled window per run (at most `points` points). Here:
// - x-axis: step, tokens, FLOPs or time, drawn through the same piecewise-linear maps as the server;
// - smoothing: a debiased EMA whose decay is counted in steps ("base": a thousandth of the series' step
//   range), so it means the same thing zoomed in or out and whatever the logging frequency; the raw curve
//   stays faint behind it;
// - log x / log y, and "ignore initial transient": the y-range spans the 1st-99th percentile of the points
//   after the first 2% of the x-range;
// - zoom: every panel follows, and every curve's window is re-fetched for the new x-range (re-bucketed on
//   the server), so detail appears as the range narrows; "N of M points shown" always tells the truth;
// - the URL keeps the controls and the zoom (history.replaceState), so a view can be shared.
(function () {
  "use strict";

  var COLORS = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#637939",
  ];
  var DEFAULTS = { x: "step", smooth: 0, logx: false, logy: false, ytrim: true, points: 2000 };

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // ---- step -> x maps (the same rule as tracker/runs/curves.py StepMap) ----
  function interp(at, src, dst) {
    var lo = 0, hi = src.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (src[mid] <= at) lo = mid; else hi = mid - 1;
    }
    var i = Math.min(Math.max(lo, 0), src.length - 2);
    var s0 = src[i], s1 = src[i + 1], d0 = dst[i], d1 = dst[i + 1];
    if (s1 === s0) return d0;
    return d0 + ((at - s0) * (d1 - d0)) / (s1 - s0);
  }
  var IDENTITY = { toX: function (s) { return s; }, toStep: function (x) { return x; }, how: "" };
  function makeMap(m) {
    if (!m) return IDENTITY;
    return {
      how: m.how,
      toX: function (s) { return interp(s, m.steps, m.xs); },
      toStep: function (x) { return interp(x, m.xs, m.steps); },
    };
  }

  // ---- smoothing and y-range ----
  function ema(steps, values, smooth, base) {
    var out = new Array(values.length);
    var acc = 0, weight = 0, prev = null;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      var d = prev === null ? 1 : Math.max((steps[i] - prev) / base, 0);
      var decay = Math.pow(smooth, d);
      acc = acc * decay + (1 - decay) * v;
      weight = weight * decay + (1 - decay);
      out[i] = weight > 0 ? acc / weight : v;
      prev = steps[i];
    }
    return out;
  }

  function percentile(sorted, p) {
    if (!sorted.length) return null;
    var pos = (sorted.length - 1) * p / 100, i = Math.floor(pos), f = pos - i;
    return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
  }

  // ---- state <-> URL ----
  function stateFromPayload(payload) {
    var p = payload.params;
    return {
      metrics: p.metrics.slice(), x: p.x, smooth: p.smooth, logx: p.logx, logy: p.logy, ytrim: p.ytrim,
      x0: p.x0, x1: p.x1, points: p.points, transient: p.transient, percentiles: p.percentiles,
    };
  }

  function short(v) {
    return String(Number(Number(v).toPrecision(10))); // 2000000000, 1.234567891e+21
  }

  function urlFor(state, extra) {
    var q = new URLSearchParams();
    Object.keys(extra).forEach(function (k) { if (extra[k]) q.set(k, extra[k]); });
    state.metrics.forEach(function (m) { q.append("m", m); });
    if (state.x !== DEFAULTS.x) q.set("x", state.x);
    if (state.smooth) q.set("smooth", String(state.smooth));
    if (state.logx) q.set("logx", "1");
    if (state.logy) q.set("logy", "1");
    if (!state.ytrim) q.set("ytrim", "0");
    if (state.x0 !== null && state.x0 !== undefined) q.set("x0", short(state.x0));
    if (state.x1 !== null && state.x1 !== undefined) q.set("x1", short(state.x1));
    if (state.points !== DEFAULTS.points) q.set("points", String(state.points));
    var s = q.toString();
    return window.location.pathname + (s ? "?" + s : "");
  }

  function Curves(root, payload) {
    this.payload = payload;
    this.state = stateFromPayload(payload);
    this.extra = {};
    var ids = document.querySelector("#curve-controls [name=ids]");
    if (ids) this.extra.ids = ids.value;
    this.compare = !!ids;
    this.maps = {};
    var self = this;
    Object.keys(payload.maps).forEach(function (run) {
      self.maps[run] = {};
      Object.keys(payload.maps[run]).forEach(function (mode) {
        self.maps[run][mode] = makeMap(payload.maps[run][mode]);
      });
    });
    this.colors = {};
    var runOrder = [];
    payload.panels.forEach(function (panel) {
      panel.traces.forEach(function (t) { if (runOrder.indexOf(t.run) < 0) runOrder.push(t.run); });
    });
    document.querySelectorAll("#compare-runs [data-run]").forEach(function (li, i) {
      var run = Number(li.dataset.run);
      if (runOrder.indexOf(run) < 0) runOrder.push(run);
      self.colors[run] = COLORS[i % COLORS.length];
      var sw = li.querySelector(".swatch");
      if (sw) sw.style.background = self.colors[run];
    });
    runOrder.forEach(function (run, i) { if (!self.colors[run]) self.colors[run] = COLORS[i % COLORS.length]; });
    this.divs = payload.panels.map(function (_, i) { return document.getElementById("panel-" + i); });
    this.ticket = 0;
    this.syncing = false;
  }

  Curves.prototype.map = function (run) {
    if (this.state.x === "step") return IDENTITY;
    return (this.maps[String(run)] || {})[this.state.x] || IDENTITY;
  };

  Curves.prototype.traces = function (panel) {
    var self = this, out = [], st = this.state;
    panel.traces.forEach(function (t) {
      var map = self.map(t.run), color = self.colors[t.run];
      var xs = t.steps.map(map.toX);
      var smoothed = st.smooth > 0;
      out.push({
        x: xs, y: t.values, type: "scatter", mode: "lines", name: t.label,
        line: { color: color, width: smoothed ? 1 : 1.5 }, opacity: smoothed ? 0.25 : 1,
        showlegend: false, hoverinfo: smoothed ? "skip" : "x+y+name",
      });
      if (smoothed) {
        out.push({
          x: xs, y: ema(t.steps, t.values, st.smooth, t.base), type: "scatter", mode: "lines",
          name: t.label + " (EMA " + st.smooth + ")", line: { color: color, width: 1.8 }, showlegend: false,
        });
      }
    });
    return out;
  };

  Curves.prototype.yRange = function (panel, xRange) {
    var st = this.state, self = this, ys = [];
    var lo = Infinity, hi = -Infinity;
    panel.traces.forEach(function (t) {
      var map = self.map(t.run);
      t.steps.forEach(function (s) { var x = map.toX(s); if (x < lo) lo = x; if (x > hi) hi = x; });
    });
    if (xRange) { lo = Math.max(lo, xRange[0]); hi = Math.min(hi, xRange[1]); }
    var cut = lo + st.transient * (hi - lo);
    panel.traces.forEach(function (t) {
      var map = self.map(t.run);
      for (var i = 0; i < t.steps.length; i++) {
        var x = map.toX(t.steps[i]), v = t.values[i];
        if (x < cut || x > hi || v === null || !isFinite(v)) continue;
        if (st.logy && v <= 0) continue;
        ys.push(st.logy ? Math.log10(v) : v);
      }
    });
    if (ys.length < 2) return null;
    ys.sort(function (a, b) { return a - b; });
    var y0 = percentile(ys, st.percentiles[0]), y1 = percentile(ys, st.percentiles[1]);
    var pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 1;
    return [y0 - pad, y1 + pad];
  };

  Curves.prototype.xRangeAxis = function () {
    var st = this.state;
    if (st.x0 === null || st.x0 === undefined || st.x1 === null || st.x1 === undefined) return null;
    if (st.logx) {
      if (st.x0 <= 0) return null;
      return [Math.log10(st.x0), Math.log10(st.x1)];
    }
    return [st.x0, st.x1];
  };

  Curves.prototype.layout = function (panel) {
    var st = this.state;
    var xr = this.xRangeAxis();
    var yr = st.ytrim ? this.yRange(panel, st.x0 !== null && st.x0 !== undefined ? [st.x0, st.x1] : null) : null;
    return {
      margin: { t: 8, r: 12, b: 40, l: 56 },
      hovermode: this.compare ? "x unified" : "closest",
      xaxis: {
        title: { text: this.payload.modes[st.x] || st.x }, type: st.logx ? "log" : "linear",
        range: xr || undefined, autorange: xr ? false : true, exponentformat: "SI",
      },
      yaxis: {
        title: { text: panel.metric }, type: st.logy ? "log" : "linear",
        range: yr || undefined, autorange: yr ? false : true,
      },
      uirevision: null,
    };
  };

  Curves.prototype.setCount = function (i) {
    var el = document.getElementById("count-" + i);
    var panel = this.payload.panels[i];
    if (!el || !panel) return;
    var t = panel.traces;
    if (!t.length) { el.textContent = ""; return; }
    function n(v) { return Number(v).toLocaleString("en-US"); }
    if (t.length === 1) { el.textContent = n(t[0].shown) + " of " + n(t[0].total) + " points shown"; return; }
    function span(key) {
      var v = t.map(function (x) { return x[key]; }).sort(function (a, b) { return a - b; });
      return v[0] === v[v.length - 1] ? n(v[0]) : n(v[0]) + "\u2013" + n(v[v.length - 1]);
    }
    el.textContent = span("shown") + " of " + span("total") + " points shown per run";
    el.title = t.map(function (x) { return x.label + ": " + x.shown + " of " + x.total; }).join("; ");
  };

  Curves.prototype.showHow = function () {
    var el = document.getElementById("x-how");
    if (!el) return;
    var self = this, hows = [];
    if (this.state.x !== "step") {
      Object.keys(this.maps).forEach(function (run) {
        var m = self.maps[run][self.state.x];
        if (m && m.how && hows.indexOf(m.how) < 0) hows.push(m.how);
      });
    }
    el.textContent = hows.length ? "x-axis: " + hows.join(" · ") : "";
  };

  Curves.prototype.drawAll = function () {
    var self = this;
    this.showHow();
    return Promise.all(this.payload.panels.map(function (panel, i) {
      var div = self.divs[i];
      if (!div) return null;
      self.setCount(i);
      var fresh = !div.classList.contains("js-plotly-plot");
      var draw = fresh ? Plotly.newPlot : Plotly.react;
      return draw(div, self.traces(panel), self.layout(panel), {
        responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"],
      }).then(function () {
        if (fresh) div.on("plotly_relayout", function (ev) { self.onRelayout(i, ev); });
      });
    }));
  };

  Curves.prototype.saveUrl = function () {
    window.history.replaceState(null, "", urlFor(this.state, this.extra));
  };

  Curves.prototype.onRelayout = function (i, ev) {
    if (this.syncing) return;
    var st = this.state, range = null;
    if (ev["xaxis.autorange"]) {
      range = "reset";
    } else if (ev["xaxis.range[0]"] !== undefined || Array.isArray(ev["xaxis.range"])) {
      // A drag-zoom reports xaxis.range[0]/[1]; Plotly.relayout and some controls report xaxis.range.
      range = ev["xaxis.range"] || [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
      range = range.map(Number);
      if (st.logx) range = range.map(function (r) { return Math.pow(10, r); });
    } else {
      return; // y-only zoom or pan handles: nothing to re-bucket
    }
    if (range === "reset") { st.x0 = null; st.x1 = null; } else { st.x0 = range[0]; st.x1 = range[1]; }
    this.saveUrl();
    this.refetch();
  };

  Curves.prototype.showError = function (message) {
    var el = document.getElementById("curve-error");
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  };

  Curves.prototype.refetch = function () {
    var self = this, st = this.state, ticket = ++this.ticket;
    var jobs = [];
    this.payload.panels.forEach(function (panel) {
      panel.traces.forEach(function (t) {
        var params = new URLSearchParams({ points: String(st.points) });
        if (st.x0 !== null && st.x0 !== undefined) {
          var map = self.map(t.run);
          var s0 = Math.floor(map.toStep(st.x0)), s1 = Math.ceil(map.toStep(st.x1));
          if (s1 < s0) s1 = s0;
          params.set("x0", String(s0));
          params.set("x1", String(s1));
        }
        jobs.push(
          fetch(t.url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
            .then(function (r) {
              return r.json().then(function (body) {
                if (!r.ok) throw new Error(body.error || "could not load points (HTTP " + r.status + ")");
                return body;
              });
            })
            .then(function (body) { return { t: t, body: body }; })
        );
      });
    });
    return Promise.all(jobs)
      .then(function (results) {
        if (ticket !== self.ticket) return null; // a newer zoom superseded this one
        var empty = true;
        results.forEach(function (r) {
          r.t.steps = r.body.steps; r.t.values = r.body.values; r.t.shown = r.body.shown; r.t.total = r.body.total;
          if (r.body.total) empty = false;
        });
        self.showError(empty && results.length ? "No points in this range." : "");
        self.syncing = true;
        return self.drawAll().then(function () { self.syncing = false; });
      })
      .catch(function (err) { self.syncing = false; self.showError(err.message); });
  };

  Curves.prototype.changeX = function (mode) {
    var st = this.state;
    if (st.x0 !== null && st.x0 !== undefined) {
      // Keep the same steps in view: through the first curve's maps, old x -> step -> new x.
      var first = this.payload.panels[0] && this.payload.panels[0].traces[0];
      var oldMap = first ? this.map(first.run) : IDENTITY;
      var s0 = oldMap.toStep(st.x0), s1 = oldMap.toStep(st.x1);
      st.x = mode;
      var newMap = first ? this.map(first.run) : IDENTITY;
      st.x0 = newMap.toX(s0); st.x1 = newMap.toX(s1);
    } else {
      st.x = mode;
    }
    this.saveUrl();
    this.syncing = true;
    var self = this;
    return this.drawAll().then(function () { self.syncing = false; });
  };

  Curves.prototype.redraw = function () {
    this.saveUrl();
    this.syncing = true;
    var self = this;
    return this.drawAll().then(function () { self.syncing = false; });
  };

  Curves.prototype.bindControls = function () {
    var self = this, st = this.state;
    var form = document.getElementById("curve-controls");
    if (!form) return;
    form.classList.add("js");
    form.querySelectorAll(".no-js-apply").forEach(function (b) { b.hidden = true; });
    var x = document.getElementById("ctl-x");
    if (x) x.addEventListener("change", function () { self.changeX(x.value); });
    var smooth = document.getElementById("ctl-smooth"), out = document.getElementById("ctl-smooth-value");
    var pendingSmooth = null;
    if (smooth) {
      smooth.addEventListener("input", function () {
        st.smooth = Number(smooth.value);
        if (out) out.textContent = smooth.value;
        if (pendingSmooth) cancelAnimationFrame(pendingSmooth);
        pendingSmooth = requestAnimationFrame(function () { pendingSmooth = null; self.redraw(); });
      });
    }
    [["ctl-logx", "logx"], ["ctl-logy", "logy"], ["ctl-ytrim", "ytrim"]].forEach(function (pair) {
      var box = document.getElementById(pair[0]);
      if (!box) return;
      box.addEventListener("change", function () {
        st[pair[1]] = box.checked;
        if (pair[1] === "logx" && st.x0 !== null && st.x0 !== undefined && st.x0 <= 0) { st.x0 = null; st.x1 = null; }
        self.redraw();
      });
    });
    // Choosing panels needs other series: the server renders them (the URL carries every other control).
    form.querySelectorAll("[name=m]").forEach(function (box) {
      box.addEventListener("change", function () {
        st.metrics = Array.prototype.filter.call(form.querySelectorAll("[name=m]"), function (b) {
          return b.checked;
        }).map(function (b) { return b.value; });
        window.location.assign(urlFor(st, self.extra));
      });
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      window.location.assign(urlFor(st, self.extra));
    });
  };

  function init() {
    if (window.performance && performance.mark) performance.mark("curves-init");
    var payload = readJson("curves-data");
    var root = document.getElementById("panels");
    if (!payload || !root) return;
    if (typeof Plotly === "undefined") {
      root.textContent = "The chart library did not load; the series table below has the numbers and CSV files.";
      return;
    }
    var curves = new Curves(root, payload);
    window.IsoflopCurves = curves; // for tests and the benchmark
    curves.bindControls();
    curves.drawAll().then(function () {
      document.body.dataset.curvesReady = "1";
      if (window.performance && performance.mark) performance.mark("curves-drawn");
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
