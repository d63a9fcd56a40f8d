// Draws every plotly chart on the page from its JSON data block:
//   <div class="chart" data-figure="ID"></div> <script type="application/json" id="ID">{...}</script>
// The figures are built on the server (stats/charts.py); this file only hands them to Plotly.
// A file rather than an inline script: the CSP allows scripts from 'self' only. Charts swapped in
// by htmx (a filter change) are drawn when they arrive.
(function () {
  "use strict";

  function draw(root) {
    if (!window.Plotly) return;
    (root || document).querySelectorAll("[data-figure]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      el.dataset.drawn = "true";
      window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
