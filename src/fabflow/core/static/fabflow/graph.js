// Flow graphs: the vendored mermaid draws each <pre class="mermaid"> as an SVG, on load, after
// htmx swaps, and when the flow editor changes a graph (window.fabflowGraph.redraw).
(function () {
  if (!window.mermaid || window.fabflowGraph) { return; }
  window.mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",  // labels are user text: no HTML beyond what flows/graph.py writes
    theme: "neutral",
    // flows/graph.py caps what it draws at a valid flow's size; these just never cut it short.
    maxTextSize: 10000000,
    maxEdges: 100000,
    flowchart: { useMaxWidth: true, htmlLabels: true },
  });
  function draw(root) {
    const nodes = root.querySelectorAll("pre.mermaid:not([data-processed])");
    if (nodes.length) { window.mermaid.run({ nodes: nodes, suppressErrors: true }); }
  }
  window.fabflowGraph = {
    redraw: function (figure, source, summary) {
      const pre = figure.querySelector("pre.mermaid");
      pre.removeAttribute("data-processed");
      pre.textContent = source;
      figure.querySelector("figcaption").textContent = summary;
      draw(figure);
    },
  };
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
