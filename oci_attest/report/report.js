"use strict";
// Sorting and filtering of the SBOM table. Rows are rendered server-side (escaped); this only
// hides and reorders them, and never parses text as HTML.
(function () {
  var table = document.getElementById("components");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var count = document.getElementById("count");
  var order = { column: -1, ascending: true };

  function apply() {
    var needle = filter.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var match = needle === "" || row.textContent.toLowerCase().indexOf(needle) !== -1;
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " components shown";
  }

  function sortBy(column) {
    order.ascending = order.column === column ? !order.ascending : true;
    order.column = column;
    rows.sort(function (a, b) {
      var x = a.cells[column].textContent, y = b.cells[column].textContent;
      var result = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
      return order.ascending ? result : -result;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, index) {
      cell.setAttribute("aria-sort", index === column
        ? (order.ascending ? "ascending" : "descending") : "none");
    });
  }

  function fromFragment() {
    var match = /(?:^#|&)filter=([^&]*)/.exec(window.location.hash);
    if (match) {
      filter.value = decodeURIComponent(match[1].replace(/\+/g, " "));
    }
    apply();
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, index) {
    var button = cell.querySelector("button");
    if (button) { button.addEventListener("click", function () { sortBy(index); }); }
  });
  filter.addEventListener("input", apply);
  window.addEventListener("hashchange", fromFragment);
  fromFragment();
}());
