/* funclib docs: filter box and click-to-sort for tables with class "funclib-sortable".
   Plain JavaScript, no dependencies, no network. Numbers (including ∞, −∞ and the Unicode
   minus sign) sort numerically; other cells sort as text; "—" (not applicable) sorts last. */
(function () {
  "use strict";

  function cellValue(cell) {
    var text = (cell.textContent || "").trim();
    var t = text.replace(/\u2212/g, "-");
    if (t === "" || t === "\u2014") return { empty: true, text: text };
    if (t === "\u221e" || t === "inf") return { num: Infinity, text: text };
    if (t === "-\u221e" || t === "-inf") return { num: -Infinity, text: text };
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return { num: parseFloat(t), text: text };
    return { text: text.toLowerCase() };
  }

  function compare(a, b, numeric) {
    if (a.empty || b.empty) return a.empty === b.empty ? 0 : (a.empty ? 1 : -1);
    if (numeric) return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
    return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = header.getAttribute("aria-sort") === "ascending";
    var values = rows.map(function (row, i) { return { row: row, i: i, v: cellValue(row.cells[index]) }; });
    var numeric = values.every(function (x) { return x.v.empty || typeof x.v.num === "number"; });
    values.sort(function (x, y) {
      var c = compare(x.v, y.v, numeric);
      if (c !== 0 && !(x.v.empty || y.v.empty)) c = descending ? -c : c;
      return c !== 0 ? c : x.i - y.i; /* stable */
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    values.forEach(function (x) { body.appendChild(x.row); });
  }

  function addFilter(table) {
    var input = document.createElement("input");
    input.type = "search";
    input.className = "funclib-filter";
    input.placeholder = "Filter entries (id, name, kind, family, property...)";
    input.setAttribute("aria-label", "Filter the table");
    var count = document.createElement("p");
    count.className = "funclib-count";
    var rows = table.tBodies[0].rows;
    function update() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var text = row.textContent.toLowerCase();
        var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
        row.style.display = ok ? "" : "none";
        if (ok) shown += 1;
      });
      count.textContent = shown + " of " + rows.length + " entries";
    }
    input.addEventListener("input", update);
    table.parentNode.insertBefore(input, table);
    table.parentNode.insertBefore(count, table);
    update();
  }

  function init() {
    var tables = document.querySelectorAll("table.funclib-sortable");
    Array.prototype.forEach.call(tables, function (table) {
      if (!table.tHead || !table.tBodies.length) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.setAttribute("role", "button");
        th.setAttribute("tabindex", "0");
        th.title = "Sort by this column";
        th.addEventListener("click", function () { sortBy(table, index, th); });
        th.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(table, index, th); }
        });
      });
      addFilter(table);
      table.setAttribute("data-funclib-ready", "1");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
