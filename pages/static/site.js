/* emmel view: client-side search over assets/search-index.js (window.EMMEL_INDEX).
   Results are built with DOM methods and textContent only: nothing from the data is parsed as HTML. */
(function () {
  "use strict";
  var out = document.getElementById("search-results");
  var input = document.getElementById("q");
  if (!out || !input) { return; }
  var index = window.EMMEL_INDEX;
  if (!index) { out.textContent = "The search index (assets/search-index.js) is missing."; return; }
  var SPLITS = ["train", "dev", "test"];
  var MAX_ENTITIES = 50, MAX_SAMPLES = 100;

  function entityPage(name) { return "entity/" + encodeURIComponent(name) + ".html"; }
  function samplePage(name) { return "sample/" + encodeURIComponent(name) + ".html"; }
  function thumb(key) { return key ? "thumbs/" + key.slice(0, 2) + "/" + key + ".jpg" : "assets/missing.svg"; }
  function norm(s) { return String(s || "").normalize("NFKC").toLowerCase().replace(/\s+/g, ""); }
  var entityKeys = index.entities.map(function (e) { return norm(e[1] + "\u0001" + e[2]); });
  var sampleKeys = index.samples.map(function (s) { return norm(s[1]); });

  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }
  function highlighted(text, q) {
    var span = node("span");
    var at = text.toLowerCase().indexOf(q);
    if (!q || at < 0) { span.textContent = text; return span; }
    span.appendChild(document.createTextNode(text.slice(0, at)));
    span.appendChild(node("mark", "", text.slice(at, at + q.length)));
    span.appendChild(document.createTextNode(text.slice(at + q.length)));
    return span;
  }
  function heading(text) { return node("h2", "", text); }

  function render(raw) {
    var q = norm(raw);
    while (out.firstChild) { out.removeChild(out.firstChild); }
    if (!q) {
      out.appendChild(node("p", "note", "Type a label (春节), an alias or words of a description. " +
        index.entities.length + " entities and " + index.samples.length + " samples are indexed."));
      return;
    }
    var ents = [], samples = [];
    for (var i = 0; i < entityKeys.length; i++) { if (entityKeys[i].indexOf(q) >= 0) { ents.push(i); } }
    for (var j = 0; j < sampleKeys.length; j++) { if (sampleKeys[j].indexOf(q) >= 0) { samples.push(j); } }
    var shownQ = String(raw).trim().toLowerCase();

    var es = node("section", "results entities");
    es.appendChild(heading("Entities (" + ents.length + ")"));
    ents.slice(0, MAX_ENTITIES).forEach(function (k) {
      var e = index.entities[k];
      var row = node("div", "hit entity");
      var a = node("a"); a.href = entityPage(e[0]); a.appendChild(highlighted(e[1], shownQ));
      row.appendChild(a);
      if (e[2]) { row.appendChild(node("span", "note", e[2])); }
      if (e[3]) { row.appendChild(node("span", "badge", e[3])); }
      row.appendChild(node("span", "count", e[4] + " samples"));
      es.appendChild(row);
    });
    if (ents.length > MAX_ENTITIES) { es.appendChild(node("p", "note", (ents.length - MAX_ENTITIES) + " more: refine the query.")); }
    out.appendChild(es);

    var ss = node("section", "results samples");
    ss.appendChild(heading("Samples (" + samples.length + ")"));
    samples.slice(0, MAX_SAMPLES).forEach(function (k) {
      var s = index.samples[k];
      var row = node("div", "hit sample");
      var img = node("img"); img.src = thumb(s[4]); img.alt = ""; img.loading = "lazy";
      row.appendChild(img);
      var box = node("div");
      var a = node("a"); a.href = samplePage(s[0]); a.appendChild(highlighted(s[1], shownQ));
      box.appendChild(a);
      var meta = node("div", "note");
      meta.appendChild(node("span", "badge " + SPLITS[s[3]], SPLITS[s[3]]));
      meta.appendChild(document.createTextNode(index.entities[s[2]] ? index.entities[s[2]][1] : ""));
      box.appendChild(meta);
      row.appendChild(box);
      ss.appendChild(row);
    });
    if (samples.length > MAX_SAMPLES) { ss.appendChild(node("p", "note", (samples.length - MAX_SAMPLES) + " more: refine the query.")); }
    out.appendChild(ss);
  }

  var params = new URLSearchParams(window.location.search);
  input.value = params.get("q") || "";
  render(input.value);
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      render(input.value);
      try { history.replaceState(null, "", "?q=" + encodeURIComponent(input.value)); } catch (e) { /* file:// may refuse */ }
    }, 120);
  });
})();
