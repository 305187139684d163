(function () {
  "use strict";
  function clock(t) { return new Date(t * 1000).toISOString().slice(11, 19) + " UTC"; }
  var charts = document.querySelectorAll("svg.chart");
  Array.prototype.forEach.call(charts, function (svg) {
    var t0 = parseFloat(svg.dataset.t0), t1 = parseFloat(svg.dataset.t1);
    var left = parseFloat(svg.dataset.left), plotw = parseFloat(svg.dataset.plotw);
    svg.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect();
      var x = (ev.clientX - box.left) * (svg.viewBox.baseVal.width / box.width);
      if (x < left || x > left + plotw) { return; }
      var t = t0 + (x - left) / plotw * (t1 - t0);
      Array.prototype.forEach.call(charts, function (other) {
        var line = other.querySelector(".cursor"), label = other.querySelector(".cursor-t");
        line.setAttribute("x1", x); line.setAttribute("x2", x); line.setAttribute("visibility", "visible");
        label.textContent = clock(t);
      });
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
