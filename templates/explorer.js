/* Face Embedding Atlas: the interactive embedding explorer (one per cell page).
 *
 * Loading. The page carries an empty explorer and this script. When the explorer comes into view
 * the script adds Plotly and the cell's data script (window.ATLAS_EXPLORER[key]) as <script>
 * elements: scripts, not fetch(), so the page works opened from file:// as well as from any static
 * host. The data are packed typed arrays (base64 of little-endian bytes, see report/exports.py),
 * decoded here with atob into Float32Array / Uint16Array ... and handed to Plotly as they are.
 *
 * Drawing. Plotly's scattergl (WebGL; SVG scatter where WebGL is missing) with one trace per colour
 * group. Colours never stand for two groups: the ten largest categories get their own colour and
 * every other one is grey; a numeric column gets a colour scale. Hover, click and selection read
 * the point's row through the trace's row index, and every user string (identity, item) reaches
 * the page through textContent, never as markup; trace names, which Plotly renders as a small HTML
 * subset, are escaped.
 *
 * Reading. Click a point: its nearest neighbours in the full space (computed at build time) are
 * listed with their cosine and ringed on the map, and the URL fragment (#item=...) names it, so a
 * link opens the explorer on that point; the Label audit page's suspect tables link here the same
 * way, and a flagged point links back to its audit table. Box or lasso selection lists the selected
 * points, with a CSV download of them (cells defused for spreadsheets as in the build's CSVs).
 */
(function () {
  "use strict";
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#17becf"];
  var GREY = "rgba(140,140,140,0.45)";
  var FLAG_COLOURS = { "suspected mislabel": "#e15759", "detection doubt": "#f28e2b", "near-duplicate": "#4e79a7" };
  var SEVERAL_FLAGS = "#b07aa1";
  var TYPED = { u1: Uint8Array, u2: Uint16Array, u4: Uint32Array, i2: Int16Array, f4: Float32Array };
  var LIST_MAX = 20;  // rows of a selection listed on the page (the CSV has them all)
  var OTHERS = { "identity": "identities", "KMeans cluster": "clusters" };  // the grey group's name
  var timings = window.ATLAS_EXPLORER_TIMINGS = window.ATLAS_EXPLORER_TIMINGS || {};

  // Plotly renders a small HTML subset in legends: names are data, so escape them.
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function webglWorks() {
    try {
      var c = document.createElement("canvas");
      return !!(window.WebGLRenderingContext && (c.getContext("webgl") || c.getContext("experimental-webgl")));
    } catch (e) { return false; }
  }

  // ------------------------------------------------------------------ loading
  var scripts = {};
  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src; s.async = true;
        s.onload = resolve;
        s.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(s);
      });
    }
    return scripts[src];
  }

  function unpack(p) {
    var bin = atob(p.b64), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) { bytes[i] = bin.charCodeAt(i); }
    return new TYPED[p.dtype](bytes.buffer);
  }

  function decode(raw) {
    var d = { n: raw.n, items: raw.items, links: raw.links || {}, maps: {}, columns: [], neighbours: null };
    Object.keys(raw.maps).forEach(function (m) {
      d.maps[m] = { x: unpack(raw.maps[m].x), y: unpack(raw.maps[m].y) };
    });
    raw.columns.forEach(function (c) {
      d.columns.push(c.kind === "number" ? { name: c.name, kind: c.kind, values: unpack(c.values) }
                                         : { name: c.name, kind: c.kind, labels: c.labels, codes: unpack(c.codes) });
    });
    d.identity = d.columns.filter(function (c) { return c.name === "identity"; })[0];
    d.byItem = Object.create(null);  // no prototype: an item named "__proto__" or "hasOwnProperty" is an item
    d.items.forEach(function (it, i) { d.byItem[it] = i; });
    return d;
  }

  function decodeNeighbours(nb) {
    return { k: nb.k, none: nb.none, scale: nb.scale, index: unpack(nb.index), cosine: unpack(nb.cosine) };
  }

  function valueText(c, i) {
    if (c.kind === "number") {
      var v = c.values[i];
      return isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4)) : "none";
    }
    return c.labels[c.codes[i]];
  }

  // ------------------------------------------------------------------ colour groups
  function categoryGroups(c) {
    var counts = new Int32Array(c.labels.length), i, n = c.codes.length;
    for (i = 0; i < n; i++) { counts[c.codes[i]]++; }
    var colourOf = {}, order;
    if (c.name === "audit status") {  // fixed meanings: each flag always has its colour
      c.labels.forEach(function (l, code) {
        if (l !== "no flag") { colourOf[code] = FLAG_COLOURS[l] || SEVERAL_FLAGS; }
      });
    } else {
      order = c.labels.map(function (_, code) { return code; }).filter(function (code) { return counts[code] > 0; });
      order.sort(function (a, b) { return counts[b] - counts[a] || (c.labels[a] < c.labels[b] ? -1 : 1); });
      order.slice(0, PALETTE.length).forEach(function (code, j) { colourOf[code] = PALETTE[j]; });
    }
    var members = {}, rest = [];
    for (i = 0; i < n; i++) {
      var code = c.codes[i];
      if (colourOf.hasOwnProperty(code)) { (members[code] = members[code] || []).push(i); } else { rest.push(i); }
    }
    var out = [];
    var n_other = c.labels.filter(function (_, code) { return counts[code] > 0 && !colourOf.hasOwnProperty(code); }).length;
    // Grey first so that the coloured groups are drawn on top of it; the legend lists it last.
    if (rest.length) {
      var other = c.name === "audit status" ? "no flag" : n_other + " other " + (OTHERS[c.name] || c.name + " values");
      out.push({ name: other, colour: GREY, rows: Int32Array.from(rest), rank: 2000 });
    }
    Object.keys(colourOf).map(Number).sort(function (a, b) { return counts[b] - counts[a] || a - b; }).forEach(function (code) {
      if (members[code]) {
        out.push({ name: c.labels[code], colour: colourOf[code], rows: Int32Array.from(members[code]), rank: 1000 });
      }
    });
    return out;
  }

  function numberGroups(c) {
    var ok = [], none = [], n = c.values.length;
    for (var i = 0; i < n; i++) { (isFinite(c.values[i]) ? ok : none).push(i); }
    var out = [];
    if (none.length) { out.push({ name: "no " + c.name, colour: GREY, rows: Int32Array.from(none), rank: 2000 }); }
    if (ok.length) {
      var rows = Int32Array.from(ok), values = new Float32Array(rows.length);
      for (var j = 0; j < rows.length; j++) { values[j] = c.values[rows[j]]; }
      out.push({ name: c.name, colour: values, scale: true, rows: rows, rank: 1000 });
    }
    return out;
  }

  function take(arr, rows) {
    var out = new Float32Array(rows.length);
    for (var i = 0; i < rows.length; i++) { out[i] = arr[rows[i]]; }
    return out;
  }

  // ------------------------------------------------------------------ CSV of a selection
  function csvCell(v) {
    var s = String(v).replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g, "");
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) { s = "'" + s; }  // no live spreadsheet formula
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // A float32 value with the digits it holds (7 significant), as a number, not a text cell.
  function number(v) { return Number(v.toPrecision(7)); }

  function selectionCsv(d, rows, mapName) {
    var xy = d.maps[mapName];
    var header = ["item"].concat(d.columns.map(function (c) { return c.name; }), [mapName + " x", mapName + " y"]);
    var lines = [header.map(csvCell).join(",")];
    rows.forEach(function (i) {
      var cells = [d.items[i]].concat(d.columns.map(function (c) {
        return c.kind === "number" ? (isFinite(c.values[i]) ? number(c.values[i]) : "") : c.labels[c.codes[i]];
      }), [number(xy.x[i]), number(xy.y[i])]);
      lines.push(cells.map(csvCell).join(","));
    });
    return lines.join("\n") + "\n";
  }

  function table(header, rows) {
    var t = el("table", null, "atlas-list"), head = el("tr");
    header.forEach(function (h) { head.appendChild(el("th", h)); });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var body = el("tbody");
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (c) {
        var td = el("td");
        if (c instanceof Node) { td.appendChild(c); } else { td.textContent = String(c); }
        if (typeof c === "number" || /^-?\d+(\.\d+)?$/.test(String(c))) { td.className = "num"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    return t;
  }

  function pointLink(d, i) {
    var a = el("a", d.items[i]);
    a.href = "#item=" + encodeURIComponent(d.items[i]);
    return a;
  }

  // ------------------------------------------------------------------ one explorer
  function init(root, t0) {
    var key = root.getAttribute("data-key");
    var raw = (window.ATLAS_EXPLORER || {})[key];
    var plot = root.querySelector(".atlas-plot");
    if (!raw || !window.Plotly) { plot.textContent = "The explorer data could not be loaded."; return; }
    var loaded = performance.now();
    var d = decode(raw);
    var decoded = performance.now();
    var traceType = webglWorks() ? "scattergl" : "scatter";
    var controls = root.querySelector(".atlas-controls");
    var pointBox = root.querySelector(".atlas-point");
    var selBox = root.querySelector(".atlas-selection");
    var tooltip = el("div", null, "atlas-tooltip");
    tooltip.hidden = true;
    root.appendChild(tooltip);
    var state = { selected: -1, hits: null, cache: {}, rowsOf: [] };
    var size = d.n > 50000 ? 2 : d.n > 20000 ? 3 : d.n > 3000 ? 4 : 6;

    function select(text, options, onChange) {
      var l = el("label", text + " "), s = el("select");
      options.forEach(function (o) { var e = el("option", o[1]); e.value = o[0]; s.appendChild(e); });
      l.appendChild(s); controls.appendChild(l);
      s.addEventListener("change", onChange);
      return s;
    }
    var mapSel = select("Map", Object.keys(d.maps).map(function (m) { return [m, m]; }), draw);
    var colourSel = select("Colour by", d.columns.map(function (c, j) { return [String(j), c.name]; }), draw);
    var dragSel = select("Drag to", [["pan", "pan"], ["select", "box select"], ["lasso", "lasso select"]], function () {
      Plotly.relayout(plot, { dragmode: dragSel.value });
    });
    var search = el("input");
    search.type = "search"; search.placeholder = "identity"; search.setAttribute("aria-label", "Highlight an identity");
    var listId = root.id + "-identities", list = el("datalist");
    list.id = listId; search.setAttribute("list", listId);
    d.identity.labels.forEach(function (name) { var o = el("option"); o.value = name; list.appendChild(o); });
    var searchLabel = el("label", "Search ");
    searchLabel.appendChild(search);
    controls.appendChild(searchLabel); controls.appendChild(list);
    var status = el("span", null, "atlas-status");
    controls.appendChild(status);

    function groupsFor(mapName, colourIndex) {
      var id = mapName + "\u0000" + colourIndex;
      if (!state.cache[id]) {
        var c = d.columns[colourIndex], xy = d.maps[mapName];
        state.cache[id] = (c.kind === "number" ? numberGroups(c) : categoryGroups(c)).map(function (g) {
          return { g: g, x: take(xy.x, g.rows), y: take(xy.y, g.rows) };
        });
      }
      return state.cache[id];
    }

    function overlay(name, rows, marker) {
      var xy = d.maps[mapSel.value];
      return { rows: rows, trace: { type: traceType, mode: "markers", name: esc(name), x: take(xy.x, rows), y: take(xy.y, rows),
                                    marker: marker, hoverinfo: "none", legendrank: 500 } };
    }

    function searchHits() {
      var typed = search.value.trim(), q = typed.toLowerCase();
      if (!q) { return null; }
      var labels = d.identity.labels, match = {};
      // The exact name first ("Bob" and "bob" are two identities), then any case, then a part of a name.
      labels.forEach(function (n, code) { if (n === typed) { match[code] = true; } });
      if (!Object.keys(match).length) {
        labels.forEach(function (n, code) { if (n.toLowerCase() === q) { match[code] = true; } });
      }
      if (!Object.keys(match).length) {
        labels.forEach(function (n, code) { if (n.toLowerCase().indexOf(q) >= 0) { match[code] = true; } });
      }
      var hits = [];
      for (var i = 0; i < d.n; i++) { if (match[d.identity.codes[i]]) { hits.push(i); } }
      return Int32Array.from(hits);
    }

    var neighbourLoad = null;
    function neighboursReady() {
      var src = root.getAttribute("data-neighbours");
      if (!neighbourLoad) {
        neighbourLoad = !src ? Promise.resolve() : loadScript(src).then(function () {
          var raw = (window.ATLAS_NEIGHBOURS || {})[key];
          if (raw) { d.neighbours = decodeNeighbours(raw); }
        }, function () { /* the map works without them; the panel says none are listed */ });
      }
      return neighbourLoad;
    }

    function neighboursOf(i) {
      var nb = d.neighbours, out = [];
      if (!nb) { return out; }
      for (var j = 0; j < nb.k; j++) {
        var r = nb.index[i * nb.k + j];
        if (r !== nb.none) { out.push({ row: r, cosine: nb.cosine[i * nb.k + j] / nb.scale }); }
      }
      return out;
    }

    // The clicked point and its neighbours as shapes of fixed pixel size anchored at their data
    // coordinates: changing them is a relayout, not a redraw of every point (fast at 100k points).
    function highlightShapes() {
      if (state.selected < 0) { return []; }
      var xy = d.maps[mapSel.value], shapes = [];
      function ring(i, r, style) {
        return Object.assign({ type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel",
                               xanchor: xy.x[i], yanchor: xy.y[i], x0: -r, x1: r, y0: -r, y1: r, layer: "above" }, style);
      }
      neighboursOf(state.selected).forEach(function (nb) {
        shapes.push(ring(nb.row, size + 3, { name: "neighbour", line: { color: "#111", width: 2 } }));
      });
      shapes.push(ring(state.selected, size + 5, { name: "selected", fillcolor: "rgba(255,212,0,0.85)",
                                                    line: { color: "#000", width: 2 } }));
      return shapes;
    }

    function draw() {
      var colourIndex = Number(colourSel.value), c = d.columns[colourIndex];
      var traces = [], rowsOf = [];
      var dim = state.hits !== null;
      groupsFor(mapSel.value, colourIndex).forEach(function (e) {
        var marker = { size: size, color: e.g.colour, line: { width: 0 }, opacity: dim ? 0.35 : 1 };
        if (e.g.scale) {
          marker.colorscale = "Viridis"; marker.showscale = true;
          marker.colorbar = { title: { text: esc(c.name), side: "right" }, thickness: 12, len: 0.8 };
        }
        traces.push({ type: traceType, mode: "markers", name: esc(e.g.name), x: e.x, y: e.y, marker: marker,
                      hoverinfo: "none", legendrank: e.g.rank, showlegend: !e.g.scale });
        rowsOf.push(e.g.rows);
      });
      if (state.hits !== null) {
        var o = overlay("search: " + search.value.trim(), state.hits,
                        { size: size + 4, color: "#ffd400", line: { width: 1.5, color: "#000" } });
        traces.push(o.trace); rowsOf.push(o.rows);
      }
      state.rowsOf = rowsOf;
      if (state.hits !== null) { status.textContent = state.hits.length + " of " + d.n + " points"; }
      else { status.textContent = d.n + " points"; }
      var th = themeColours();
      var axis = { title: { text: "" }, zeroline: false, gridcolor: th.grid, color: th.fg };
      return Plotly.react(plot, traces, {
        margin: { l: 45, r: 10, t: 10, b: 40 }, hovermode: "closest", dragmode: dragSel.value, uirevision: mapSel.value,
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: th.fg, size: 12 },
        legend: { orientation: "h", x: 0, xanchor: "left", y: -0.08, yanchor: "top", itemsizing: "constant", font: { size: 11 } },
        xaxis: Object.assign({}, axis, { title: { text: mapSel.value + " 1" } }),
        yaxis: Object.assign({}, axis, { title: { text: mapSel.value + " 2" }, scaleanchor: "x" }),
        shapes: highlightShapes()
      }, { responsive: true, scrollZoom: true, displaylogo: false, modeBarButtonsToRemove: ["toImage"] });
    }

    function rowOf(pt) {
      var rows = state.rowsOf[pt.curveNumber];
      var k = pt.pointIndex !== undefined ? pt.pointIndex : pt.pointNumber;
      return rows && k !== undefined && k < rows.length ? rows[k] : -1;
    }

    // -------------------------------------------------------------- panels
    function showPoint(i) {
      pointBox.textContent = "";
      if (i < 0) { return; }
      pointBox.appendChild(el("h4", d.items[i], "atlas-title"));
      var facts = el("dl");
      d.columns.forEach(function (c) {
        facts.appendChild(el("dt", c.name)); facts.appendChild(el("dd", valueText(c, i)));
      });
      pointBox.appendChild(facts);
      var audit = d.columns.filter(function (c) { return c.name === "audit status"; })[0];
      var flags = audit ? valueText(audit, i) : "no flag";
      if (flags !== "no flag" && d.links.audit) {
        var p = el("p", "Label audit: ");
        flags.split("; ").forEach(function (f, j) {
          var a = el("a", f);
          a.href = d.links.audit + (d.links["audit#" + f] ? "#" + d.links["audit#" + f] : "");
          if (j) { p.appendChild(document.createTextNode(", ")); }
          p.appendChild(a);
        });
        pointBox.appendChild(p);
      }
      var nbs = neighboursOf(i);
      if (nbs.length) {
        pointBox.appendChild(el("p", nbs.length + " nearest neighbours in the full space (cosine of the embeddings):",
                                "atlas-caption"));
        pointBox.appendChild(table(["#", "item", "identity", "cosine"], nbs.map(function (n, j) {
          return [j + 1, pointLink(d, n.row), valueText(d.identity, n.row), n.cosine.toFixed(3)];
        })));
      }
    }

    function showSelection(rows) {
      selBox.textContent = "";
      if (!rows.length) { return; }
      selBox.appendChild(el("p", rows.length + " point" + (rows.length === 1 ? "" : "s") + " selected" +
                              (rows.length > LIST_MAX ? " (the first " + LIST_MAX + " listed)" : "") + ".", "atlas-caption"));
      var button = el("button", "Download the " + rows.length + " selected points (CSV)", "md-button atlas-download");
      button.type = "button";
      button.addEventListener("click", function () {
        var blob = new Blob([selectionCsv(d, rows, mapSel.value)], { type: "text/csv;charset=utf-8" });
        var a = el("a");
        a.href = URL.createObjectURL(blob); a.download = key + "-selection.csv";
        document.body.appendChild(a); a.click(); a.remove();
        setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
      });
      selBox.appendChild(button);
      var shown = rows.slice(0, LIST_MAX), cols = d.columns.slice(0, 3);
      selBox.appendChild(table(["item"].concat(cols.map(function (c) { return c.name; })), shown.map(function (i) {
        return [pointLink(d, i)].concat(cols.map(function (c) { return valueText(c, i); }));
      })));
    }

    function choose(i, updateUrl) {
      state.selected = i;
      showPoint(i);
      if (updateUrl && i >= 0 && window.history && history.replaceState) {
        history.replaceState(null, "", "#item=" + encodeURIComponent(d.items[i]));
      }
      return plot._fullLayout ? Plotly.relayout(plot, { shapes: highlightShapes() }) : draw();
    }

    // The point or identity the URL fragment names (#item=... / #identity=...): a promise of the
    // draw, or null when the fragment names neither.
    function fromFragment(scroll) {
      var m = /^#(item|identity)=(.*)$/.exec(window.location.hash);
      if (!m) { return null; }
      var value;
      try { value = decodeURIComponent(m[2]); } catch (e) { return null; }
      if (scroll) { root.scrollIntoView({ block: "start" }); }
      if (m[1] === "identity") {
        search.value = value; state.hits = searchHits();
        return draw();
      }
      if (Object.prototype.hasOwnProperty.call(d.byItem, value)) { return choose(d.byItem[value], false); }
      pointBox.textContent = "";
      pointBox.appendChild(el("p", "Item " + value + " is not among the " + d.n + " mapped points.", "atlas-caption"));
      return draw();
    }

    // -------------------------------------------------------------- events
    search.addEventListener("input", function () { state.hits = searchHits(); draw(); });
    window.addEventListener("hashchange", function () { fromFragment(false); });
    plot.textContent = "";
    Promise.resolve(fromFragment(true) || draw()).then(function () {
      requestAnimationFrame(function () {
        var drawn = performance.now();
        timings[key] = { start: t0, loaded: loaded, decoded: decoded, drawn: drawn, points: d.n, trace: traceType };
        root.setAttribute("data-drawn", "1");
        // The neighbour lists come second: the map is on screen before they are read.
        neighboursReady().then(function () { if (state.selected >= 0) { choose(state.selected, false); } });
      });
    });
    plot.on("plotly_hover", function (ev) {
      var i = ev && ev.points && ev.points.length ? rowOf(ev.points[0]) : -1;
      if (i < 0) { return; }
      var lines = [valueText(d.identity, i), d.items[i]];
      d.columns.forEach(function (c) { if (c !== d.identity) { lines.push(c.name + ": " + valueText(c, i)); } });
      tooltip.textContent = lines.join("\n");
      var box = root.getBoundingClientRect(), e = ev.event || {};
      tooltip.style.left = Math.max(0, (e.clientX || 0) - box.left + 12) + "px";
      tooltip.style.top = Math.max(0, (e.clientY || 0) - box.top + 12) + "px";
      tooltip.hidden = false;
    });
    plot.on("plotly_unhover", function () { tooltip.hidden = true; });
    plot.on("plotly_click", function (ev) {
      var i = ev && ev.points && ev.points.length ? rowOf(ev.points[0]) : -1;
      if (i >= 0) { choose(i, true); }
    });
    plot.on("plotly_selected", function (ev) {
      var seen = {}, rows = [];
      ((ev && ev.points) || []).forEach(function (pt) {
        var i = rowOf(pt);
        if (i >= 0 && !seen[i]) { seen[i] = true; rows.push(i); }
      });
      rows.sort(function (a, b) { return a - b; });
      showSelection(rows);
    });
    plot.on("plotly_deselect", function () { showSelection([]); });
  }

  function themeColours() {
    var s = getComputedStyle(document.body);
    return { fg: s.getPropertyValue("--md-default-fg-color").trim() || "#222",
             grid: s.getPropertyValue("--md-default-fg-color--lightest").trim() || "#ddd" };
  }

  function start(root) {
    var t0 = performance.now();
    var key = root.getAttribute("data-key");
    var wait = [];
    if (!window.Plotly) { wait.push(loadScript(root.getAttribute("data-plotly"))); }
    if (!(window.ATLAS_EXPLORER || {})[key]) { wait.push(loadScript(root.getAttribute("data-src"))); }
    Promise.all(wait).then(function () { init(root, t0); }, function (err) {
      root.querySelector(".atlas-plot").textContent = "The explorer could not start: " + err.message;
    });
  }

  var roots = Array.prototype.slice.call(document.querySelectorAll(".atlas-explorer"));
  if ("IntersectionObserver" in window) {
    // Lazy: nothing of the explorer (Plotly included) is loaded before it is about to be seen.
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { io.unobserve(e.target); start(e.target); } });
    }, { rootMargin: "400px" });
    roots.forEach(function (r) { io.observe(r); });
  } else {
    roots.forEach(start);
  }
})();
