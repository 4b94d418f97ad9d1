// The analytics page: draws each chart from its data-figure JSON with the local Plotly
// bundle, and again after HTMX swaps the panel (a filter change). A file, not an inline
// script, so the console's Content-Security-Policy can refuse inline scripts.
(function () {
  "use strict";
  function renderCharts(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var fig = JSON.parse(el.getAttribute("data-figure"));
      window.Plotly.newPlot(el, fig.data, fig.layout,
                            {responsive: true, displaylogo: false});
    });
  }
  document.addEventListener("DOMContentLoaded", function () { renderCharts(document); });
  // After settle, not after swap: htmx's settle step restores the swapped elements'
  // attributes, which would strip the classes Plotly puts on each chart (its mode bar then
  // covers the chart and legends lose their place).
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.target && evt.target.id === "charts") { renderCharts(evt.target); }
  });
})();
