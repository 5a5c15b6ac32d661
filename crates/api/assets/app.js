// POD Automator dashboard behaviour: charts, the live feed, the listing
// editor's field marks and counters, and error toasts. No build step.
(function () {
  "use strict";

  function toast(message) {
    var t = document.createElement("div");
    t.className = "toast";
    t.setAttribute("role", "status");
    t.textContent = message;
    document.body.appendChild(t);
    setTimeout(function () { t.remove(); }, 6000);
  }

  // Problems from htmx requests (401, 403, 409, 422 …) as a toast with their detail.
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, message = "Request failed (" + xhr.status + ")";
    try { message = JSON.parse(xhr.responseText).detail || message; } catch (_) { /* not a problem body */ }
    if (xhr.status === 401) { message = "Your session ended; sign in again."; }
    toast(message);
  });

  // Every command carries an Idempotency-Key, so a double click (or a
  // request the browser sends again) is one command. The key stays with the
  // element until the server has answered; the next action gets a new one.
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.verb === "get") { return; }
    var elt = e.detail.elt;
    if (!elt.dataset.idempotencyKey) { elt.dataset.idempotencyKey = newKey(); }
    e.detail.headers["Idempotency-Key"] = elt.dataset.idempotencyKey;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr, elt = e.detail.elt;
    if (elt && xhr && xhr.status > 0) { delete elt.dataset.idempotencyKey; }
  });

  // Time series: data-series='[[unix…],[a…],[b…]]', data-labels='["a","b"]'.
  function charts(root) {
    if (!window.uPlot) { return; }
    root.querySelectorAll("[data-series]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      el.dataset.drawn = "1";
      var data = JSON.parse(el.dataset.series);
      var labels = JSON.parse(el.dataset.labels || "[]");
      if (!data.length || !data[0].length) {
        var p = document.createElement("p");
        p.className = "empty";
        p.textContent = el.dataset.empty || "No observations yet.";
        el.replaceChildren(p);
        return;
      }
      var colours = ["#4f46e5", "#f79009", "#12b76a"];
      var series = [{}].concat(labels.map(function (l, i) {
        return { label: l, stroke: colours[i % colours.length], width: 2, fill: i === 0 ? "rgba(79,70,229,.08)" : undefined };
      }));
      var xs = data[0], day = 86400;
      // A single day still gets a week around it, not an empty decade.
      var x = xs.length > 1 ? { time: true } : { time: true, range: [xs[0] - 3 * day, xs[0] + 3 * day] };
      new window.uPlot({
        width: Math.max(320, el.clientWidth - 8), height: 260, series: series,
        axes: [{}, { label: el.dataset.axis || "interest" }],
        scales: { x: x, y: el.dataset.auto ? { auto: true } : { range: [0, 100] } },
        points: { size: 7 },
      }, data, el);
    });
  }

  // The live feed: server-rendered lines over SSE, newest on top.
  function feed(root) {
    root.querySelectorAll("[data-feed]").forEach(function (list) {
      if (list.dataset.connected) { return; }
      list.dataset.connected = "1";
      var badge = document.querySelector("[data-feed-status]");
      var source = new EventSource(list.dataset.feed);
      source.onopen = function () { if (badge) { badge.classList.add("on"); badge.textContent = "live"; } };
      source.onerror = function () { if (badge) { badge.classList.remove("on"); badge.textContent = "reconnecting…"; } };
      source.onmessage = function (e) {
        var empty = list.querySelector(".empty");
        if (empty) { empty.remove(); }
        list.insertAdjacentHTML("afterbegin", e.data);
        while (list.children.length > 60) { list.lastElementChild.remove(); }
      };
    });
  }

  // The editor: mark the inputs the last check found wrong.
  function marks() {
    // An outerHTML swap replaces the report, so look for it afresh.
    var report = document.querySelector("[data-invalid]");
    if (!report) { return; }
    var invalid = (report.dataset.invalid || "").split(",").filter(Boolean);
    document.querySelectorAll("[data-field]").forEach(function (input) {
      input.setAttribute("aria-invalid", invalid.indexOf(input.dataset.field) >= 0 ? "true" : "false");
    });
  }

  // Character counters: <input data-count="140"> with a sibling .count.
  function counters(root) {
    root.querySelectorAll("[data-count]").forEach(function (input) {
      var out = document.querySelector('[data-count-for="' + input.id + '"]');
      if (!out) { return; }
      var update = function () { out.textContent = input.value.length + " / " + input.dataset.count; };
      input.addEventListener("input", update);
      update();
    });
  }

  // A chosen file goes to the API as it is; typed keywords go through the form.
  function imports(root) {
    root.querySelectorAll("form[data-import]").forEach(function (form) {
      if (form.dataset.bound) { return; }
      form.dataset.bound = "1";
      form.addEventListener("submit", function (e) {
        var file = form.querySelector("input[type=file]").files[0];
        if (!file) { return; } // htmx posts the keywords
        e.preventDefault();
        e.stopImmediatePropagation();
        var out = form.querySelector("#import-result");
        var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
        var name = file.name.toLowerCase();
        headers["Content-Type"] = name.endsWith(".csv") ? "text/csv" : name.endsWith(".json") ? "application/json" : "application/xml";
        fetch("/api/v1/trends/import?source=" + encodeURIComponent(file.name), { method: "POST", headers: headers, body: file })
          .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
          .then(function (r) {
            out.className = "outcome " + (r.ok ? "ok" : "err");
            out.textContent = r.ok
              ? "Imported " + r.body.keywords + " trends: " + r.body.persisted + " new observations, " + r.body.duplicates + " already known."
              : (r.body.errors && r.body.errors.length ? r.body.errors[0].message : r.body.detail);
          })
          .catch(function () {
            out.className = "outcome err";
            out.textContent = "The import failed: the file may be larger than 1 MiB, or the server did not answer.";
          });
      }, true);
    });
  }

  function init(root) { charts(root); feed(root); counters(root); imports(root); marks(); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { marks(); });
})();
