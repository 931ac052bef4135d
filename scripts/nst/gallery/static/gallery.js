// The grid page's detail view (click a pair; arrow keys, Escape), page jump, thumbnail zoom
// and the filter that fades every pair but the failed ones or those scoring at least a limit.
// Reads the per-pair data that page.html.j2 writes into <script id="pair-data">.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pair-data").textContent);
  var links = Array.prototype.slice.call(document.querySelectorAll("a.pair"));
  var viewer = document.getElementById("viewer");
  var image = document.getElementById("v-image");
  var fullLink = document.getElementById("v-full");
  var curve = document.getElementById("v-curve");
  var record = document.getElementById("v-record");
  var open = document.getElementById("v-open");
  var overlay = document.getElementById("v-overlay");
  var photo = document.getElementById("v-photo");
  var mask = document.getElementById("v-mask");
  var current = -1;
  function show(i) {
    current = i;
    var entry = data[links[i].getAttribute("data-pair")];
    document.getElementById("v-title").textContent = entry.title;
    var table = document.getElementById("v-table");
    table.textContent = "";
    entry.rows.forEach(function (row) {
      var tr = table.insertRow();
      tr.insertCell().textContent = row[0];
      tr.insertCell().textContent = row[1];
    });
    if (entry.full) {
      image.src = entry.full; fullLink.href = entry.full; open.href = entry.full;
      fullLink.hidden = false; open.hidden = false;
    } else {
      image.removeAttribute("src"); fullLink.hidden = true; open.hidden = true;
    }
    if (entry.curve) { curve.src = entry.curve; curve.hidden = false; }
    else { curve.removeAttribute("src"); curve.hidden = true; }
    if (entry.record) { record.href = entry.record; record.hidden = false; }
    else { record.hidden = true; }
    if (entry.overlay) {
      photo.src = entry.overlay.photo; mask.src = entry.overlay.mask; overlay.hidden = false;
    } else {
      photo.removeAttribute("src"); mask.removeAttribute("src"); overlay.hidden = true;
    }
    viewer.hidden = false;
    document.getElementById("v-close").focus();
  }
  function hide() { viewer.hidden = true; if (current >= 0) links[current].focus(); }
  links.forEach(function (link, i) {
    link.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
      event.preventDefault();
      show(i);
    });
  });
  document.getElementById("v-close").addEventListener("click", hide);
  document.getElementById("v-prev").addEventListener("click", function () {
    if (current > 0) show(current - 1);
  });
  document.getElementById("v-next").addEventListener("click", function () {
    if (current < links.length - 1) show(current + 1);
  });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) hide(); });
  document.addEventListener("keydown", function (event) {
    if (viewer.hidden) return;
    if (event.key === "Escape") hide();
    else if (event.key === "ArrowLeft" && current > 0) show(current - 1);
    else if (event.key === "ArrowRight" && current < links.length - 1) show(current + 1);
  });
  var jump = document.querySelector("form.jump");
  if (jump) {
    jump.addEventListener("submit", function (event) {
      event.preventDefault();
      var total = parseInt(jump.getAttribute("data-pages"), 10);
      var n = Math.min(total, Math.max(1, parseInt(jump.querySelector("input").value, 10) || 1));
      window.location.href = n === 1 ? "index.html" : "page-" + n + ".html";
    });
  }
  var filter = document.getElementById("filter");
  var limit = document.getElementById("limit");
  function applyFilter() {
    var mode = filter.value, least = parseFloat(limit.value), shown = 0;
    links.forEach(function (link) {
      var keep = mode === "all" || (mode === "failed" && link.classList.contains("failed"));
      if (mode === "style" || mode === "content") {
        var value = parseFloat(link.getAttribute("data-" + mode + "-score"));
        keep = !isNaN(value) && value >= least;
      }
      link.parentNode.classList.toggle("faded", !keep);
      if (keep) shown += 1;
    });
    document.getElementById("matches").textContent =
      mode === "all" ? "" : shown + " of " + links.length + " pairs on this page";
  }
  filter.addEventListener("change", applyFilter);
  limit.addEventListener("input", applyFilter);
  var zoom = document.getElementById("zoom");
  function setTile(px) { document.documentElement.style.setProperty("--tile", px + "px"); }
  try { var saved = window.localStorage.getItem("nst-gallery-tile"); } catch (e) { saved = null; }
  if (saved) { zoom.value = saved; setTile(saved); }
  zoom.addEventListener("input", function () {
    setTile(zoom.value);
    try { window.localStorage.setItem("nst-gallery-tile", zoom.value); } catch (e) { /* file:// */ }
  });
})();
