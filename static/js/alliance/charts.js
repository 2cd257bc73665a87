/* Draws every figure on the page: <div data-chart="ID"> and its <script type="application/json"
   id="ID"> written by the server (alliance/dashboards.py). No inline script: a CSP without
   'unsafe-inline' allows it. Plotly draws SVG, so charts print sharp. */
(function () {
  "use strict";
  // A4 and US Letter both fit 680 px inside 15 mm margins (static/css/print.css).
  var PRINT_WIDTH = 680;
  var drawn = [];

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source || !window.Plotly) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    var fixed = Boolean(figure.layout && figure.layout.width);
    window.Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: !fixed,
      displaylogo: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
      toImageButtonOptions: { format: "svg" }
    });
    element.classList.add("chart-drawn");
    drawn.push({ element: element, fixed: fixed });
  }

  document.querySelectorAll("[data-chart]").forEach(draw);

  window.addEventListener("beforeprint", function () {
    drawn.forEach(function (chart) {
      if (!chart.fixed) {
        window.Plotly.relayout(chart.element, { width: PRINT_WIDTH });
      }
    });
  });
  window.addEventListener("afterprint", function () {
    drawn.forEach(function (chart) {
      if (!chart.fixed) {
        window.Plotly.relayout(chart.element, { width: null, autosize: true });
      }
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
