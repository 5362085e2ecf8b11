"""The stylesheet and script of the page `tinygrad_nn.viz.explore` writes.

The script reads the pass from the JSON element ``#tnn-data`` and finds the graph's nodes,
edges and frames in the inline SVG by their ids (``t3``, ``op2``, ``e2_0``,
``cluster_c0``), which both renderers of `tinygrad_nn.viz.svg` give them. It defines
``window.tnnExplorer`` (``go(i)``, ``current``, ``data``) for tests and the curious.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

STYLE = """
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #212529; }
header { display: flex; align-items: center; gap: 1em; padding: 6px 12px;
  border-bottom: 1px solid #dee2e6; background: #f8f9fa; flex-wrap: wrap; }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 14px; margin: 8px 0 4px; }
nav button { font-size: 14px; padding: 2px 10px; }
#counter { display: inline-block; min-width: 16em; text-align: center; }
main { display: flex; height: calc(100vh - 48px); }
#graph { flex: 1; overflow: auto; padding: 8px; }
#graph svg { display: block; }
#layout { margin-right: 1em; }
aside { width: 30em; overflow: auto; border-left: 1px solid #dee2e6; padding: 0 12px; }
.rule { font-family: monospace; background: #f1f3f5; padding: 4px; white-space: pre-wrap; }
.stats { font-family: monospace; font-size: 12px; white-space: pre-wrap; }
.hint { color: #868e96; font-size: 12px; margin: 0; }
.phase-forward { color: #0a58ca; } .phase-backward { color: #b02a37; }
ul { padding-left: 1.2em; } li { margin: 2px 0; }
#frame-list li { cursor: pointer; } #frame-list li.collapsed::before { content: "+ "; }
#frame-list li:not(.collapsed)::before { content: "- "; }
g.node, g.cluster { cursor: pointer; }
g.node.current ellipse, g.node.current polygon, g.node.current rect,
g.node.current path { stroke: #fd7e14 !important; stroke-width: 4px !important; }
g.node.output-current polygon, g.node.output-current rect,
g.node.output-current path { stroke: #fd7e14 !important; stroke-width: 3px !important; }
g.node.done ellipse { fill: #d3f9d8; }
g.edge.flow path { stroke: #fd7e14 !important; stroke-width: 3px; }
g.edge.flow polygon { stroke: #fd7e14; fill: #fd7e14; }
text.grad-label { font: 10px monospace; fill: #b02a37; paint-order: stroke;
  stroke: white; stroke-width: 3px; }
text.grad-label.flow { fill: #d9480f; font-weight: bold; }
.hidden { display: none; }
g.cluster.collapsed polygon, g.cluster.collapsed rect, g.cluster.collapsed path {
  fill: #ced4da !important; }
g.cluster.current polygon, g.cluster.current rect, g.cluster.current path {
  stroke: #fd7e14 !important; stroke-width: 4px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tnn-data").textContent);
  var steps = data.steps;
  var RELEASED = "not kept: a backward without retain_graph released the graph; " +
    "explore before backward, after backward(retain_graph=True) or inside keep_graphs()";

  // One view per layout: "expanded" (every op) and, when the graph calls composite
  // functions, "folded" (each call one node). Element ids repeat across the two SVGs,
  // so lookups stay inside the active view.
  var views = {};
  document.querySelectorAll("#graph .layout").forEach(function (root) {
    var name = root.dataset.layout;
    views[name] = { name: name, root: root, svg: root.querySelector("svg"), labels: {},
                    members: {}, layout: data.layouts[name] };
  });
  var view = views.folded || views.expanded;
  var state = { current: 0, collapsed: {} };

  function el(id) { return view.root.querySelector('[id="' + id + '"]'); }
  function fmt(v) {
    if (typeof v === "string") { return v; }
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1e-3 && a < 1e5) { return String(Number(v.toPrecision(4))); }
    return v.toExponential(3);
  }
  function statsText(s) {
    if (!s) { return "none"; }
    var text = "shape (" + s.shape.join(", ") + (s.shape.length === 1 ? "," : "") + ")" +
      "  mean " + fmt(s.mean) + "  min " + fmt(s.min) + "  max " + fmt(s.max) +
      "  norm " + fmt(s.norm);
    if (s.values) { text += "\nvalues " + JSON.stringify(nested(s.values, s.shape)); }
    return text;
  }
  function nested(values, shape) {
    function round(v) { return typeof v === "number" ? Number(v.toPrecision(4)) : v; }
    if (shape.length <= 1) { return values.map(round); }
    var size = values.length / shape[0], out = [];
    for (var i = 0; i < shape[0]; i++) {
      out.push(nested(values.slice(i * size, (i + 1) * size), shape.slice(1)));
    }
    return out;
  }
  function add(parent, tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    if (cls) { node.className = cls; }
    parent.appendChild(node);
    return node;
  }
  function tensorName(id) { return data.tensors[id].label; }
  // The node that stands for an op in the active view (a folded call's node if folded).
  function opNode(opId) { return el(view.layout.ops[opId] || opId); }

  // Per view: edge labels at the middle of each input edge, and the frames that fold.
  Object.keys(views).forEach(function (name) {
    var saved = view;
    view = views[name];
    Object.keys(data.ops).forEach(function (opId) {
      data.ops[opId].inputs.forEach(function (_, k) {
        var edgeId = "e" + opId.slice(2) + "_" + k, edge = el(edgeId);
        var path = edge && edge.querySelector("path");
        if (!path || !path.getTotalLength || view.labels[edgeId]) { return; }
        var point = path.getPointAtLength(path.getTotalLength() / 2);
        var text = document.createElementNS("http://www.w3.org/2000/svg", "text");
        text.setAttribute("x", point.x); text.setAttribute("y", point.y - 3);
        text.setAttribute("text-anchor", "middle");
        text.setAttribute("class", "grad-label hidden");
        edge.appendChild(text);
        view.labels[edgeId] = text;
      });
    });
    // A frame the layout could not draw as a box (the built-in layout may show it as
    // name tags instead) cannot fold: its members would vanish without a trace.
    Object.keys(view.layout.members).forEach(function (key) {
      view.members[key] = el(key) ? view.layout.members[key] : [];
    });
    view.svg.querySelectorAll("g.node").forEach(function (node) {
      node.addEventListener("click", function () { select(node.id); });
    });
    view.svg.querySelectorAll("g.cluster").forEach(function (box) {
      box.addEventListener("click", function (event) {
        if (event.target.closest("g.node")) { return; }
        if (view.members[box.id]) { toggleFrame(box.id); }
      });
    });
    view = saved;
  });

  function frameOf(opId) {
    var frames = [], nodeId = view.layout.ops[opId] || opId;
    Object.keys(view.members).forEach(function (key) {
      if (state.collapsed[key] && view.members[key].indexOf(nodeId) >= 0) { frames.push(key); }
    });
    return frames;
  }
  function applyFrames() {
    var hidden = {};
    Object.keys(view.members).forEach(function (key) {
      var box = el(key);
      if (box) { box.classList.toggle("collapsed", !!state.collapsed[key]); }
      if (state.collapsed[key]) {
        view.members[key].forEach(function (id) { hidden[id] = true; });
      }
    });
    view.svg.querySelectorAll("g.node").forEach(function (node) {
      node.classList.toggle("hidden", !!hidden[node.id]);
    });
    view.svg.querySelectorAll("g.edge").forEach(function (edge) {
      var m = /^e(\d+)_(\d+|out)$/.exec(edge.id);
      if (!m) { return; }
      var op = data.ops["op" + m[1]];
      var other = m[2] === "out" ? op.output : op.inputs[Number(m[2])];
      edge.classList.toggle("hidden", !!hidden["op" + m[1]] && !!hidden[other]);
    });
    document.querySelectorAll("#frame-list li").forEach(function (item) {
      var key = item.dataset.frame;
      item.classList.toggle("collapsed", !!state.collapsed[key]);
      item.classList.toggle("hidden", !(key in view.members));
    });
  }
  function toggleFrame(key) {
    if (!el(key)) { return; }
    state.collapsed[key] = !state.collapsed[key];
    applyFrames();
    show();
  }
  function useView(name) {
    if (!views[name]) { return; }
    Object.keys(views).forEach(function (other) {
      views[other].root.classList.toggle("hidden", other !== name);
    });
    view = views[name];
    var button = document.getElementById("layout");
    button.textContent = name === "folded" ? "expand functions" : "fold functions";
    applyFrames();
    show();
  }
  var list = document.getElementById("frame-list");
  Object.keys(data.clusters).forEach(function (key) {
    var drawn = Object.keys(views).some(function (name) {
      return views[name].members[key] && views[name].members[key].length;
    });
    var item = add(list, "li", data.clusters[key].label + (drawn ? "" : " (not drawn as a box)"));
    item.dataset.frame = key;
    item.addEventListener("click", function () { toggleFrame(key); });
  });
  if (!Object.keys(data.clusters).length) { add(list, "li", "(no module frames)"); }

  function clear(cls) {
    document.querySelectorAll("#graph ." + cls).forEach(function (node) {
      node.classList.remove(cls);
    });
  }
  function label(sent, isCurrent) {
    var text = view.labels[sent.edge];
    if (!text || !sent.grad) { return; }
    text.textContent = "\u2016g\u2016 " + fmt(sent.grad.norm);
    text.classList.remove("hidden");
    if (isCurrent) { text.classList.add("flow"); }
  }

  function show() {
    var i = state.current, step = steps[i];
    clear("current"); clear("output-current"); clear("done"); clear("flow");
    Object.keys(views).forEach(function (name) {
      Object.keys(views[name].labels).forEach(function (key) {
        views[name].labels[key].classList.add("hidden");
      });
    });
    var panel = document.getElementById("panel");
    panel.textContent = "";
    document.getElementById("counter").textContent = steps.length ?
      (step.phase + " step " + step.number + "  (" + (i + 1) + " of " + steps.length + ")") :
      "no ops";
    if (!step) { return; }
    for (var j = 0; j < i; j++) {
      var done = opNode(steps[j].op);
      if (done && steps[j].phase === step.phase) { done.classList.add("done"); }
      if (steps[j].phase === "backward" && step.phase === "backward") {
        steps[j].sends.forEach(function (sent) { label(sent, false); });
      }
    }
    var op = data.ops[step.op];
    var node = opNode(step.op);
    if (node) { node.classList.add("current"); }
    var out = el(op.output);
    if (out) { out.classList.add("output-current"); }
    frameOf(step.op).forEach(function (key) { el(key).classList.add("current"); });
    panel.dataset.op = step.op;
    panel.dataset.phase = step.phase;
    add(panel, "h2", step.phase + " step " + step.number, "phase-" + step.phase);
    add(panel, "p", op.name, "op-name");
    add(panel, "div", op.rule || "(no rule)", "rule");
    if (view.layout.ops[step.op]) {
      add(panel, "p", "inside " + view.layout.labels[view.layout.ops[step.op]] +
        " (expand functions to see this op)", "inside");
    }
    var output = data.tensors[op.output];
    add(panel, "h2", "output " + output.label);
    add(panel, "div", statsText(output.value), "stats value");
    if (output.dead) {
      add(panel, "p", "dead units: " + output.dead.dead + " of " + output.dead.units +
        (output.dead.dead ? " (" + output.dead.indices.join(", ") + ")" : ""), "dead");
    }
    if (step.phase === "forward") {
      add(panel, "h2", "inputs");
      var ul = add(panel, "ul");
      op.inputs.forEach(function (id, k) {
        var item = add(ul, "li", "in" + k + " " + tensorName(id) + ": ");
        add(item, "div", statsText(data.tensors[id].value), "stats");
      });
    } else {
      add(panel, "h2", "gradient arriving at the output");
      add(panel, "div", step.kept ? statsText(step.grad_in) : RELEASED, "stats grad-in");
      add(panel, "h2", "gradients sent to the inputs");
      var sends = add(panel, "ul", undefined, "sends");
      step.sends.forEach(function (sent, k) {
        var item = add(sends, "li", "in" + k + " " + sent.name + ": ");
        item.dataset.edge = sent.edge;
        var none = step.kept ? "no gradient" : "not kept";
        add(item, "div", sent.grad ? statsText(sent.grad) : none, "stats");
        if (sent.summed_axes.length) {
          add(item, "div", "summed over broadcast axes (" + sent.summed_axes.join(", ") + ")");
        }
        var edge = el(sent.edge);
        if (edge && sent.grad) { edge.classList.add("flow"); }
        label(sent, true);
      });
    }
    // Bring the op into view, or the folded frame that hides it.
    var shown = node && !node.classList.contains("hidden") ? node : null;
    frameOf(step.op).forEach(function (key) { shown = shown || el(key); });
    if (shown && shown.scrollIntoView) {
      shown.scrollIntoView({ block: "center", inline: "center" });
    }
  }

  function go(i) {
    if (!steps.length) { return; }
    state.current = Math.max(0, Math.min(steps.length - 1, i));
    show();
  }
  function select(id) {
    var box = document.getElementById("selected");
    box.textContent = "";
    box.dataset.node = id;
    if (data.tensors[id]) {
      var t = data.tensors[id];
      add(box, "h2", "tensor " + t.label + " (" + t.kind + ")");
      add(box, "p", "dtype " + t.dtype);
      add(box, "div", "value: " + statsText(t.value), "stats");
      add(box, "div", "gradient: " + statsText(t.grad), "stats");
    } else if (data.ops[id]) {
      add(box, "h2", "op " + data.ops[id].name);
      add(box, "div", data.ops[id].rule, "rule");
    } else if (view.layout.labels[id]) {
      add(box, "h2", view.layout.labels[id]);
      add(box, "p", "a composite function, folded; expand functions to see its ops");
    }
  }
  document.getElementById("first").addEventListener("click", function () { go(0); });
  document.getElementById("prev").addEventListener("click", function () { go(state.current - 1); });
  document.getElementById("next").addEventListener("click", function () { go(state.current + 1); });
  document.getElementById("last").addEventListener("click", function () { go(steps.length - 1); });
  var layoutButton = document.getElementById("layout");
  layoutButton.classList.toggle("hidden", !views.folded);
  layoutButton.addEventListener("click", function () {
    useView(view.name === "folded" ? "expanded" : "folded");
  });
  document.addEventListener("keydown", function (event) {
    var keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (keys[event.key]) { go(state.current + keys[event.key]); event.preventDefault(); }
    if (event.key === "Home") { go(0); event.preventDefault(); }
    if (event.key === "End") { go(steps.length - 1); event.preventDefault(); }
  });
  window.tnnExplorer = {
    data: data, go: go, toggleFrame: toggleFrame, useView: useView,
    get current() { return state.current; },
    get layout() { return view.name; }
  };
  useView(view.name);
  go(0);
})();
"""
