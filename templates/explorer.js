/* Face Embedding Atlas: the interactive embedding explorer (one per cell page).
 *
 * Data come from a script the site ships next to the page (window.ATLAS_EXPLORER[key]), not from
 * fetch(), so the page works opened from file:// as well as from any static host. Plotly draws
 * with WebGL (scattergl); a browser without WebGL gets the same map drawn as SVG (scatter).
 *
 * Colours never stand for two groups: the ten largest identities (or clusters) get their own
 * colour, every other one is grey and named in the hover; the search box picks out any identity.
 */
(function () {
  "use strict";
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#17becf"];
  var GREY = "rgba(140,140,140,0.45)";
  var AUDIT_COLOURS = { "no flag": GREY, "suspected mislabel": "#e15759", "near-duplicate": "#4e79a7",
                        "suspected mislabel; near-duplicate": "#b07aa1" };

  // Plotly renders a small HTML subset in hover labels and legends: names are data, so escape them.
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function webglWorks() {
    try {
      var c = document.createElement("canvas");
      return !!(window.WebGLRenderingContext && (c.getContext("webgl") || c.getContext("experimental-webgl")));
    } catch (e) { return false; }
  }
  var TRACE_TYPE = webglWorks() ? "scattergl" : "scatter";

  function largest(labels, n) {
    var counts = {};
    labels.forEach(function (l) { counts[l] = (counts[l] || 0) + 1; });
    return Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : a > b ? 1 : 0); }).slice(0, n);
  }

  function groups(d, mode) {
    // Returns [{name, colour, index: [rows]}] in legend order, grey group last.
    var n = d.identity.length, label = new Array(n), i;
    if (mode === "audit") {
      for (i = 0; i < n; i++) { label[i] = d.flags[i] || "no flag"; }
      return split(label, Object.keys(AUDIT_COLOURS).filter(function (k) { return k !== "no flag"; }), "no flag",
                   function (name) { return AUDIT_COLOURS[name] || "#59a14f"; });
    }
    for (i = 0; i < n; i++) {
      label[i] = mode === "cluster" ? "cluster " + d.cluster[i] : d.names[d.identity[i]];
    }
    var top = largest(label, PALETTE.length);
    var other = mode === "cluster" ? "other clusters" : "other identities";
    return split(label, top, other, function (name) { return PALETTE[top.indexOf(name)]; });
  }

  function split(label, named, other, colourOf) {
    var byName = {}, out = [];
    named.forEach(function (name) { byName[name] = []; });
    var rest = [];
    label.forEach(function (l, i) { (byName.hasOwnProperty(l) ? byName[l] : rest).push(i); });
    named.forEach(function (name) { if (byName[name].length) { out.push({ name: name, colour: colourOf(name), index: byName[name] }); } });
    // Grey first so the coloured groups are drawn on top of it.
    if (rest.length) { out.unshift({ name: other, colour: GREY, index: rest }); }
    return out;
  }

  function trace(d, xy, g, size, extra) {
    var t = {
      type: TRACE_TYPE, mode: "markers", name: esc(g.name),
      x: g.index.map(function (i) { return xy.x[i]; }), y: g.index.map(function (i) { return xy.y[i]; }),
      customdata: g.index.map(function (i) {
        return [esc(d.names[d.identity[i]]), esc(d.items[i]), d.cluster[i], d.flags[i] || "none"];
      }),
      hovertemplate: "<b>%{customdata[0]}</b><br>item: %{customdata[1]}<br>cluster: %{customdata[2]}" +
                     "<br>audit: %{customdata[3]}<extra></extra>",
      marker: { size: size, color: g.colour, line: { width: 0 } },
      legendrank: g.colour === GREY ? 2000 : 1000  // the grey group last in the legend, drawn first
    };
    return Object.assign(t, extra || {});
  }

  function themeColours() {
    var s = getComputedStyle(document.body);
    return { fg: s.getPropertyValue("--md-default-fg-color").trim() || "#222",
             grid: s.getPropertyValue("--md-default-fg-color--lightest").trim() || "#ddd" };
  }

  function init(root) {
    var d = (window.ATLAS_EXPLORER || {})[root.getAttribute("data-key")];
    if (!d || !window.Plotly) { return; }
    var controls = root.querySelector(".atlas-controls");
    var plot = root.querySelector(".atlas-plot");
    var mapSel = select("Map", Object.keys(d.maps));
    var colourSel = select("Colour by", ["identity", "cluster", "audit"]);
    var listId = root.id + "-identities";
    var search = document.createElement("input");
    search.type = "search"; search.placeholder = "identity"; search.setAttribute("list", listId);
    search.setAttribute("aria-label", "Highlight an identity");
    var list = document.createElement("datalist"); list.id = listId;
    d.names.forEach(function (name) { var o = document.createElement("option"); o.value = name; list.appendChild(o); });
    var status = document.createElement("span"); status.className = "atlas-status";
    var label = document.createElement("label"); label.textContent = "Search ";
    label.appendChild(search);
    controls.appendChild(label); controls.appendChild(list); controls.appendChild(status);
    var size = d.items.length > 20000 ? 3 : d.items.length > 3000 ? 4 : 6;

    function select(text, options) {
      var l = document.createElement("label"); l.textContent = text + " ";
      var s = document.createElement("select");
      options.forEach(function (o) { var e = document.createElement("option"); e.value = o; e.textContent = o; s.appendChild(e); });
      l.appendChild(s); controls.appendChild(l);
      s.addEventListener("change", draw);
      return s;
    }

    function draw() {
      var xy = d.maps[mapSel.value];
      var gs = groups(d, colourSel.value);
      var traces = gs.map(function (g) { return trace(d, xy, g, size); });
      var q = search.value.trim().toLowerCase(), hits = [];
      if (q) {
        var codes = d.names.map(function (n, i) { return n.toLowerCase() === q ? i : -1; }).filter(function (i) { return i >= 0; });
        if (!codes.length) {
          codes = d.names.map(function (n, i) { return n.toLowerCase().indexOf(q) >= 0 ? i : -1; }).filter(function (i) { return i >= 0; });
        }
        d.identity.forEach(function (c, i) { if (codes.indexOf(c) >= 0) { hits.push(i); } });
        traces.forEach(function (t) { t.marker.opacity = 0.25; });
        traces.push(trace(d, xy, { name: "search: " + search.value.trim(), colour: "#000", index: hits }, size + 4,
                          { marker: { size: size + 4, color: "#ffd400", line: { width: 1.5, color: "#000" } } }));
        status.textContent = hits.length + " points";
      } else {
        status.textContent = d.items.length + " points";
      }
      var c = themeColours();
      var axis = { title: { text: "" }, zeroline: false, gridcolor: c.grid, color: c.fg };
      Plotly.react(plot, traces, {
        margin: { l: 40, r: 10, t: 10, b: 30 }, hovermode: "closest", dragmode: "pan", uirevision: mapSel.value,
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.fg, size: 12 },
        legend: { itemsizing: "constant", font: { size: 11 } },
        xaxis: Object.assign({}, axis, { title: { text: mapSel.value + " 1" } }),
        yaxis: Object.assign({}, axis, { title: { text: mapSel.value + " 2" }, scaleanchor: "x" })
      }, { responsive: true, scrollZoom: true, displaylogo: false });
    }
    search.addEventListener("input", draw);
    draw();
  }

  document.querySelectorAll(".atlas-explorer").forEach(init);
})();
