// Tooltips for the timeline and sortable tables. Reads attributes and text only and
// writes with textContent: nothing from the history is ever parsed as markup.
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  document.querySelectorAll("svg .bar").forEach(function (bar) {
    var title = bar.querySelector("title");
    if (!title) { return; }
    // The native tooltip would show beside ours; keep the text on an attribute.
    bar.setAttribute("data-tip", title.textContent);
    title.remove();
    bar.addEventListener("mousemove", function (event) {
      tip.textContent = bar.getAttribute("data-tip");
      tip.hidden = false;
      var x = event.clientX + 14, y = event.clientY + 14;
      if (x + tip.offsetWidth > window.innerWidth - 8) { x = event.clientX - tip.offsetWidth - 14; }
      if (y + tip.offsetHeight > window.innerHeight - 8) { y = event.clientY - tip.offsetHeight - 14; }
      tip.style.left = x + "px";
      tip.style.top = y + "px";
    });
    bar.addEventListener("mouseleave", function () { tip.hidden = true; });
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("th");
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var ascending = !th.classList.contains("sorted-asc");
        headers.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
        var text = th.getAttribute("data-type") === "text";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[column];
          return text ? cell.textContent : parseFloat(cell.getAttribute("data-v"));
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = text ? x.localeCompare(y) : x - y;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
}());
