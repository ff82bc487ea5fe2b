/// The dashboard's page and script, embedded so the daemon serves them offline with no
/// build step. Plain DOM and `fetch`/`EventSource`: nothing to vendor, nothing to update.
enum DashboardPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>MultiPAR</title>
    <style>
    body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
    header { display: flex; gap: 1em; align-items: center; padding: .6em 1em; background: #1d2330; color: #fff; }
    header h1 { font-size: 1.1em; margin: 0; }
    #fleet { flex: 1; }
    main, #signin { padding: 1em; }
    .table { overflow: auto; max-height: 60vh; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; }
    thead th { position: sticky; top: 0; z-index: 1; }
    tr.spacer td { padding: 0; border: 0; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
    th { font-weight: 600; background: #fafbfc; }
    td.state-running { color: #167c3a; } td.state-failed, td.state-crashed { color: #b3261e; } td.state-stopped { color: #6b7280; }
    button { font: inherit; padding: .15em .6em; border: 1px solid #c5cad3; border-radius: 4px; background: #fff; cursor: pointer; }
    button:hover { background: #eef0f3; }
    svg.spark { width: 60px; height: 16px; vertical-align: middle; }
    svg.spark polyline { fill: none; stroke: #3a6fd8; stroke-width: 1.5; }
    #logs { margin-top: 1em; }
    .filters { display: flex; gap: .5em; flex-wrap: wrap; margin-bottom: .5em; }
    #log-lines { background: #11151c; color: #d7dde8; padding: .6em; height: 18em; overflow: auto; margin: 0; border-radius: 6px; font-size: 12px; }
    .lvl-ERROR, .lvl-CRITICAL { color: #ff8a80; } .lvl-WARNING { color: #ffd479; } .src-supervisor { color: #8ab4ff; }
    #signin-error, #action-error { color: #b3261e; }
    @media (max-width: 640px) { .wide { display: none; } header { flex-wrap: wrap; } main, #signin { padding: .5em; } #token { width: 100%; box-sizing: border-box; } }
    </style>
    </head>
    <body>
    <header><h1>MultiPAR</h1><span id="fleet"></span><button id="signout" hidden>Sign out</button></header>
    <section id="signin" hidden>
    <form id="signin-form">
    <label>Management token <input id="token" type="password" autocomplete="off" required></label>
    <button type="submit" id="signin-button">Sign in</button>
    <p id="signin-error" role="alert"></p>
    </form>
    </section>
    <main id="app" hidden>
    <p id="action-error" role="alert"></p>
    <div class="table" id="agents-box"><table id="agents">
    <thead><tr><th>ID</th><th>State</th><th class="wide">PID</th><th class="wide">Port</th><th class="wide">Uptime</th><th>Restarts</th><th>CPU</th><th>Memory</th><th>Health</th><th>Actions</th></tr></thead>
    <tbody></tbody>
    </table></div>
    <section id="logs">
    <h2>Log tail <span id="log-agent">(pick an agent)</span></h2>
    <div class="filters">
    <select id="log-level"><option value="">any level</option><option>DEBUG</option><option>INFO</option><option>WARNING</option><option>ERROR</option><option>CRITICAL</option></select>
    <select id="log-stream"><option value="">any stream</option><option>stdout</option><option>stderr</option><option>supervisor</option></select>
    <input id="log-text" placeholder="words">
    </div>
    <pre id="log-lines"></pre>
    </section>
    </main>
    <script src="/ui/app.js"></script>
    </body>
    </html>
    """#

    static let script = #"""
    "use strict";
    const $ = (id) => document.getElementById(id);
    let csrf = null;
    let tail = null;
    let selected = null;
    const rows = new Map();
    const pending = new Set();
    let flushTimer = null;

    async function call(method, path, body) {
      const headers = {};
      if (method !== "GET") headers["X-CSRF-Token"] = csrf || "";
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const answer = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await answer.text();
      let json = {};
      try { json = JSON.parse(text); } catch (e) { json = {}; }
      if (!answer.ok) throw new Error((json.error || answer.status) + ": " + (json.detail || text));
      return json;
    }

    async function boot() {
      try {
        const session = await call("GET", "/ui/session");
        csrf = session.csrf_token;
        start();
      } catch (e) {
        $("signin").hidden = false;
      }
    }

    $("signin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const session = await call("POST", "/ui/session", { token: $("token").value });
        csrf = session.csrf_token;
        $("token").value = "";
        $("signin").hidden = true;
        start();
      } catch (e) {
        $("signin-error").textContent = e.message;
      }
    });

    $("signout").addEventListener("click", async () => {
      await call("DELETE", "/ui/session");
      location.reload();
    });

    async function start() {
      $("app").hidden = false;
      $("signout").hidden = false;
      await refreshAll();
      const events = new EventSource("/supervisor/events");
      events.onmessage = (message) => {
        const event = JSON.parse(message.data);
        if (event.process_id) { pending.add(event.process_id); if (!flushTimer) flushTimer = setTimeout(flushPending, 30); }
      };
      setInterval(refreshAll, 5000);
    }

    async function refreshAll() {
      const status = await call("GET", "/supervisor/status");
      const seen = new Set();
      for (const [id, process] of Object.entries(status.processes)) { seen.add(id); upsert(id, process, true); }
      for (const id of [...rows.keys()]) if (!seen.has(id)) drop(id);
      fleet();
    }

    async function flushPending() {
      flushTimer = null;
      const ids = [...pending];
      pending.clear();
      await Promise.all(ids.map(async (id) => {
        try { upsert(id, await call("GET", "/supervisor/processes/" + id), false); } catch (e) { drop(id); }
      }));
      fleet();
    }

    // The table is virtual: every agent's data is kept, only the rows in view (and a margin)
    // are in the document, between two spacers as tall as the rows above and below. A
    // thousand agents cost a few dozen rows of layout, on first paint and on every update.
    let order = [];
    let orderChanged = false;
    let rowHeight = 0;
    let drawn = { first: -1, last: -1, order: null };
    let renderQueued = false;

    function scheduleRender() {
      if (renderQueued) return;
      renderQueued = true;
      requestAnimationFrame(render);
    }

    function render() {
      renderQueued = false;
      if (orderChanged) { order = [...rows.keys()].sort(); orderChanged = false; }
      const box = $("agents-box");
      const height = rowHeight || 32;
      const first = Math.max(0, Math.floor(box.scrollTop / height) - 10);
      const last = Math.min(order.length, first + Math.ceil((box.clientHeight || 600) / height) + 20);
      if (drawn.first !== first || drawn.last !== last || drawn.order !== order) {
        const parts = [spacer(first * height)];
        for (let i = first; i < last; i++) parts.push(rowOf(order[i]).tr);
        parts.push(spacer((order.length - last) * height));
        document.querySelector("#agents tbody").replaceChildren(...parts);
        drawn = { first, last, order };
      }
      for (let i = first; i < last; i++) fill(rows.get(order[i]));
      if (!rowHeight && last > first) {
        rowHeight = rows.get(order[first]).tr.getBoundingClientRect().height;
        if (rowHeight) scheduleRender();
      }
      $("agents").dataset.rows = order.length;
    }

    function spacer(height) {
      const tr = document.createElement("tr");
      tr.className = "spacer";
      const td = document.createElement("td");
      td.colSpan = 10;
      td.style.height = height + "px";
      tr.appendChild(td);
      return tr;
    }

    $("agents-box").addEventListener("scroll", scheduleRender, { passive: true });
    addEventListener("resize", scheduleRender);

    function cell(row, text, className) {
      const td = document.createElement("td");
      if (className) td.className = className;
      td.textContent = text;
      row.appendChild(td);
      return td;
    }

    // Keeps an agent's latest answer and usage samples; its row is drawn when in view.
    function upsert(id, process, sample) {
      let entry = rows.get(id);
      if (!entry) {
        entry = { id, tr: null, cpu: [], memory: [], cells: {}, process, stale: true };
        rows.set(id, entry);
        orderChanged = true;
      }
      const resources = process.resources || {};
      const cpu = resources.cpu ? resources.cpu.percent : null;
      const memory = resources.memory ? resources.memory.rss_bytes : null;
      if (sample && cpu !== null) { entry.cpu.push(cpu); entry.memory.push(memory || 0); entry.cpu = entry.cpu.slice(-30); entry.memory = entry.memory.slice(-30); }
      entry.process = process;
      entry.stale = true;
      scheduleRender();
    }

    function rowOf(id) {
      const entry = rows.get(id);
      if (entry.tr) return entry;
      const tr = document.createElement("tr");
      tr.dataset.id = id;
      entry.tr = tr;
      const name = cell(tr, entry.process.agent_id);
      name.style.cursor = "pointer";
      name.addEventListener("click", () => follow(id));
      entry.cells.state = cell(tr, "");
      entry.cells.pid = cell(tr, "", "wide");
      entry.cells.port = cell(tr, "", "wide");
      entry.cells.uptime = cell(tr, "", "wide");
      entry.cells.restarts = cell(tr, "");
      entry.cells.cpu = cell(tr, "");
      entry.cells.memory = cell(tr, "");
      entry.cells.health = cell(tr, "");
      const actions = cell(tr, "");
      for (const [label, action] of [["Stop", "stop"], ["Restart", "restart"], ["Rolling", "rolling"], ["Remove", "remove"]]) {
        const button = document.createElement("button");
        button.textContent = label;
        button.dataset.action = action;
        button.addEventListener("click", () => act(id, action));
        actions.appendChild(button);
      }
      return entry;
    }

    function fill(entry) {
      if (!entry.stale) return;
      entry.stale = false;
      const process = entry.process;
      const resources = process.resources || {};
      const cpu = resources.cpu ? resources.cpu.percent : null;
      const memory = resources.memory ? resources.memory.rss_bytes : null;
      entry.tr.dataset.state = process.state;
      entry.cells.state.textContent = process.state;
      entry.cells.state.className = "state-" + process.state;
      entry.cells.pid.textContent = process.pid ?? "-";
      entry.cells.port.textContent = process.port ?? "-";
      entry.cells.uptime.textContent = process.uptime == null ? "-" : Math.round(process.uptime) + "s";
      entry.cells.restarts.textContent = process.restart_count;
      usage(entry.cells.cpu, cpu === null ? "-" : cpu.toFixed(1) + "% ", entry.cpu);
      usage(entry.cells.memory, memory === null ? "-" : (memory / 1048576).toFixed(1) + "M ", entry.memory);
      entry.cells.health.textContent = process.health ? process.health.status : "-";
    }

    // A usage cell: its figure, and a sparkline once there are two samples to draw.
    function usage(td, text, values) {
      if (values.length < 2) { if (td.textContent !== text) td.textContent = text; return; }
      td.replaceChildren(document.createTextNode(text), spark(values));
    }

    function spark(values) {
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("class", "spark");
      svg.setAttribute("viewBox", "0 0 60 16");
      if (values.length > 1) {
        const max = Math.max(...values, 1e-9);
        const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
        line.setAttribute("points", values.map((v, i) => (i * 60 / (values.length - 1)).toFixed(1) + "," + (15 - v / max * 14).toFixed(1)).join(" "));
        svg.appendChild(line);
      }
      return svg;
    }

    function drop(id) {
      if (rows.delete(id)) { orderChanged = true; scheduleRender(); }
    }

    function fleet() {
      let running = 0;
      for (const entry of rows.values()) if (entry.process.state === "running") running += 1;
      $("fleet").textContent = running + " of " + rows.size + " agents running";
    }

    async function act(id, action) {
      const words = { stop: "Stop", restart: "Restart", rolling: "Restart without downtime", remove: "Remove (stopping it first)" };
      if (!confirm(words[action] + " " + id + "?")) return;
      const paths = {
        stop: ["POST", "/supervisor/stop/" + id], restart: ["POST", "/supervisor/restart/" + id],
        rolling: ["POST", "/supervisor/restart/" + id + "?strategy=rolling"], remove: ["DELETE", "/supervisor/processes/" + id + "?force=true"],
      };
      try {
        $("action-error").textContent = "";
        await call(paths[action][0], paths[action][1]);
        if (action === "remove") drop(id);
      } catch (e) {
        $("action-error").textContent = e.message;
      }
    }

    function follow(id) {
      selected = id;
      $("log-agent").textContent = id;
      restartTail();
    }

    function restartTail() {
      if (tail) tail.close();
      if (!selected) return;
      $("log-lines").textContent = "";
      const query = new URLSearchParams({ process_id: selected, tail: "200" });
      if ($("log-level").value) query.set("min_level", $("log-level").value);
      if ($("log-stream").value) query.set("stream", $("log-stream").value);
      if ($("log-text").value.trim()) query.set("q", $("log-text").value.trim());
      tail = new EventSource("/supervisor/logs/stream?" + query.toString().replace(/\+/g, "%20"));
      tail.onmessage = (message) => {
        const line = JSON.parse(message.data);
        const span = document.createElement("span");
        const stream = (line.extra && line.extra.stream) || "";
        span.className = "lvl-" + line.level + (stream === "supervisor" ? " src-supervisor" : "");
        span.textContent = line.timestamp + " " + line.level.padEnd(8) + " " + stream.padEnd(10) + " " + line.message + "\n";
        const pane = $("log-lines");
        pane.appendChild(span);
        while (pane.childNodes.length > 2000) pane.removeChild(pane.firstChild);
        pane.scrollTop = pane.scrollHeight;
      };
    }

    for (const id of ["log-level", "log-stream"]) $(id).addEventListener("change", restartTail);
    $("log-text").addEventListener("change", restartTail);
    boot();
    """#
}
