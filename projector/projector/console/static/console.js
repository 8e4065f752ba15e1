// The Ordersource console: plain ES2022, no build step, no dependencies.
//
// Safe rendering: every value from the server becomes a text node (h() below) or an
// attribute set with setAttribute; nothing is ever parsed as HTML (the page's CSP
// requires Trusted Types with no policy, so assigning a string as markup would throw).
// The bearer token lives in this tab's sessionStorage and goes out only as an
// Authorization header to this origin.

const TOKEN_KEY = "ordersource.token";
const POLL_MS = 1000;
const CHART_SAMPLES = 120;
const main = document.getElementById("main");
const notice = document.getElementById("notice");
let session = null;
let routeGeneration = 0; // bumped on every page change: a page's polling stops with it

// -- DOM helpers -------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return append(el, children);
}

function show(...children) {
  main.replaceChildren(...children.flat(Infinity).filter(Boolean));
}

function say(text, kind = "") {
  notice.textContent = text;
  notice.className = kind;
}

function table(columns, rows, caption) {
  return h(
    "table",
    {},
    caption ? h("caption", { class: "meta" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row)))))),
  );
}

function money(cents, currency) {
  if (cents === null || cents === undefined) return "";
  return `${(Number(cents) / 100).toFixed(2)} ${currency ?? ""}`.trim();
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

// Poll ``fn`` every ``ms`` after its previous answer (never two at once), while the page
// that started it is shown.
function poll(fn, ms) {
  const mine = routeGeneration;
  const tick = async () => {
    if (mine !== routeGeneration) return;
    await fn();
    if (mine === routeGeneration) setTimeout(tick, ms);
  };
  tick();
}

// -- the API -----------------------------------------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/console/api/${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", redirect: "error",
    });
  } catch (error) {
    return { status: 0, body: { title: "Console unreachable", detail: String(error) } };
  }
  let parsed = null;
  try { parsed = await response.json(); } catch { parsed = null; }
  if (response.status === 401 && path !== "session") signOut("Your token is no longer accepted; sign in again.");
  return { status: response.status, body: parsed };
}

function problem(answer) {
  const b = answer.body || {};
  return `${answer.status || ""} ${b.title || "Error"}${b.detail ? `: ${b.detail}` : ""}`.trim();
}

// -- session -----------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  session = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  location.hash = "#/login";
  if (message) say(message, "error");
}

async function loadSession() {
  const answer = await api("session");
  if (answer.status !== 200) return null;
  session = answer.body;
  const who = document.getElementById("who");
  document.getElementById("who-text").textContent =
    `Signed in as ${session.role}${session.name ? ` (${session.name})` : ""}`;
  who.hidden = false;
  document.getElementById("nav").hidden = false;
  return session;
}

function loginPage() {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, size: 40 });
  const form = h(
    "form",
    { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      const found = await loadSession();
      if (!found) {
        sessionStorage.removeItem(TOKEN_KEY);
        say("That token is not accepted here (the console needs a reader or admin token).", "error");
        return;
      }
      say("");
      location.hash = "#/orders";
    } },
    h("label", { for: "token" }, "Bearer token (reader or admin)", input),
    h("button", { type: "submit" }, "Sign in"),
  );
  show(h("h2", {}, "Sign in"), h("p", {}, "The token stays in this browser tab only."), form);
  input.focus();
}

// -- orders ------------------------------------------------------------------------------

const STATUSES = ["", "placed", "paid", "shipped", "cancelled"];

function ordersPage(params) {
  const id = h("input", { id: "order-id", name: "order_id", required: true, maxlength: 64, pattern: "[A-Za-z0-9._:\\-]+" });
  const search = h(
    "form",
    { class: "inline", role: "search", onsubmit: (e) => { e.preventDefault(); location.hash = `#/orders/${encodeURIComponent(id.value.trim())}`; } },
    h("label", { for: "order-id" }, "Order id", id),
    h("button", { type: "submit" }, "Open"),
  );
  const customer = h("input", { id: "customer-id", name: "customer_id", maxlength: 64, value: params.get("customer_id") || "" });
  const status = h("select", { id: "status", name: "status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === (params.get("status") || "") }, s || "any")));
  const results = h("div", { id: "order-list" });
  const list = h(
    "form",
    { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      if (customer.value.trim()) q.set("customer_id", customer.value.trim());
      if (status.value) q.set("status", status.value);
      location.hash = `#/orders?${q}`;
    } },
    h("label", { for: "customer-id" }, "Customer id", customer),
    h("label", { for: "status" }, "Status", status),
    h("button", { type: "submit" }, "List"),
  );
  show(h("h2", {}, "Find an order"), search, h("h2", {}, "List orders"), list, results);
  listOrders(results, params, null);
}

async function listOrders(target, params, cursor) {
  const q = new URLSearchParams({ limit: "20" });
  for (const key of ["customer_id", "status"]) if (params.get(key)) q.set(key, params.get(key));
  if (cursor) q.set("cursor", cursor);
  const answer = await api(`query/orders?${q}`);
  if (answer.status !== 200) { target.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
  const page = answer.body;
  const rows = table(
    [
      { label: "Order", cell: (o) => h("a", { href: `#/orders/${encodeURIComponent(o.order_id)}` }, o.order_id) },
      { label: "Customer", cell: (o) => o.customer_id },
      { label: "Status", cell: (o) => o.status },
      { label: "Total", num: true, cell: (o) => money(o.total_cents, o.currency) },
      { label: "Version", num: true, cell: (o) => o.version },
      { label: "Updated", cell: (o) => o.updated_at },
    ],
    page.items,
    page.items.length ? `${page.items.length} order(s), newest first` : "no orders on this page",
  );
  const next = page.next_cursor
    ? h("button", { type: "button", class: "secondary", onclick: () => listOrders(target, params, page.next_cursor) }, "Next page")
    : null;
  target.replaceChildren(rows, next);
}

function viewDetails(view) {
  const pairs = [
    ["Status", view.status], ["Customer", view.customer_id], ["Channel", view.channel],
    ["Total", money(view.total_cents, view.currency)], ["Version", view.version],
    ["Created", view.created_at], ["Updated", view.updated_at],
  ];
  return [
    h("dl", { class: "view" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    table(
      [
        { label: "SKU", cell: (l) => l.sku },
        { label: "Quantity", num: true, cell: (l) => l.quantity },
        { label: "Unit price", num: true, cell: (l) => money(l.unit_price_cents, view.currency) },
        { label: "Line total", num: true, cell: (l) => money(l.line_total_cents, view.currency) },
      ],
      view.items,
    ),
  ];
}

function changeText(c) {
  const show = (v) => (v === null || v === undefined ? "—" : String(v));
  return `${c.field}: ${show(c.from)} → ${show(c.to)}`;
}

function timelineEntry(e) {
  return h(
    "li",
    { "data-version": e.version },
    h("span", { class: "event-type" }, e.type), " ",
    h("span", {}, `v${e.version}`), " · ",
    h("time", { datetime: e.occurred_at }, e.occurred_at), " ",
    h("span", { class: "meta" }, `command ${e.command_id}`),
    h("ul", { class: "changes" }, e.changes.length ? e.changes.map((c) => h("li", {}, changeText(c))) : h("li", {}, "no change to the view")),
    h("details", {}, h("summary", {}, "Event data"), h("pre", {}, json(e.data))),
  );
}

async function orderPage(orderId) {
  document.title = `Order ${orderId} · Ordersource console`;
  const enc = encodeURIComponent(orderId); // a query parameter: "." and ".." are ids too
  const current = await api(`order?order_id=${enc}`);
  if (current.status !== 200) {
    show(h("h2", {}, `Order ${orderId}`), h("p", { class: "error" }, problem(current)), h("p", {}, h("a", { href: "#/orders" }, "Back to orders")));
    return;
  }
  const view = current.body;
  const events = h("ol", { class: "timeline", id: "timeline", "aria-label": "Events, oldest first" });
  const more = h("div");
  const travelled = h("div", { id: "travelled", "aria-live": "polite" });
  const slider = h("input", { id: "version-slider", type: "range", min: 1, max: view.version, step: 1, value: view.version });
  const readout = h("output", { for: "version-slider", id: "version-readout" }, `version ${view.version}`);
  let pending = 0;
  async function travel(query, label) {
    const ticket = ++pending;
    const answer = await api(`order?order_id=${enc}&${query}`);
    if (ticket !== pending) return; // a later move of the slider won
    if (answer.status !== 200) { travelled.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
    travelled.replaceChildren(h("h3", {}, label), ...viewDetails(answer.body));
  }
  slider.addEventListener("input", () => {
    readout.textContent = `version ${slider.value}`;
    travel(`at_version=${slider.value}`, `As of version ${slider.value}`);
  });
  const moment = h("input", { id: "as-of", type: "datetime-local", step: 1 });
  const picker = h(
    "form",
    { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      if (!moment.value) return;
      const at = new Date(moment.value);
      if (Number.isNaN(at.getTime())) { say("Not a valid moment", "error"); return; }
      travel(`as_of=${encodeURIComponent(at.toISOString())}`, `As of ${at.toISOString()}`);
    } },
    h("label", { for: "as-of" }, "Moment (your local time)", moment),
    h("button", { type: "submit" }, "Show as of"),
  );
  show(
    h("h2", {}, `Order ${view.order_id}`),
    h("div", { class: "panels" },
      h("section", { "aria-labelledby": "now-h" }, h("h3", { id: "now-h" }, "Current view"), ...viewDetails(view)),
      h("section", { "aria-labelledby": "travel-h" },
        h("h3", { id: "travel-h" }, "Time travel"),
        h("div", { class: "slider" }, h("label", { for: "version-slider" }, "Version"), slider, readout),
        picker, travelled),
    ),
    h("section", { "aria-labelledby": "timeline-h" }, h("h3", { id: "timeline-h" }, "Event timeline"), events, more),
  );
  await loadTimeline(enc, 0, events, more);
}

async function loadTimeline(enc, after, events, more) {
  const answer = await api(`timeline?order_id=${enc}&after_version=${after}`);
  if (answer.status !== 200) { more.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
  append(events, answer.body.entries.map(timelineEntry));
  const next = answer.body.next_after_version;
  more.replaceChildren(next ? h("button", { type: "button", class: "secondary", onclick: () => loadTimeline(enc, next, events, more) }, "More events") : "");
}

// -- projection --------------------------------------------------------------------------

function lagChart(samples) {
  const width = 600, height = 140, pad = 28;
  const max = Math.max(1, ...samples.map((s) => s.lag));
  const step = (width - pad - 8) / Math.max(1, CHART_SAMPLES - 1);
  const points = samples.map((s, i) => `${pad + i * step},${height - pad - (s.lag / max) * (height - 2 * pad)}`).join(" ");
  return svg(
    "svg",
    { class: "chart", id: "lag-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": `Total lag over the last ${samples.length} seconds; now ${samples.at(-1)?.lag ?? 0}, highest ${max}`,
      "data-samples": samples.length },
    svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width - 8, y2: height - pad }),
    svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: height - pad }),
    svg("text", { x: 2, y: pad + 4 }, String(max)),
    svg("text", { x: 2, y: height - pad + 4 }, "0"),
    svg("text", { x: pad, y: height - 8 }, `lag (events), sampled about once a second`),
    samples.length > 1 ? svg("polyline", { class: "line", points }) : svg("g"),
  );
}

function projectionPage() {
  const samples = [];
  const body = h("div", { id: "projection" }, h("p", {}, "Loading…"));
  show(h("h2", {}, "Projection health"), h("p", { class: "meta" }, "Refreshed every second: Kafka's end offsets against the views' checkpoints, beside the projector's own report."), body);
  async function refresh() {
    const answer = await api("status");
    if (answer.status !== 200) { body.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
    const s = answer.body;
    samples.push({ at: s.measured_at, lag: s.lag });
    while (samples.length > CHART_SAMPLES) samples.shift();
    const building = s.generations.filter((g) => g.state === "building" || g.building);
    const bounded = s.generations.filter((g) => g.state === "bounded" && !g.building);
    body.replaceChildren(
      h("p", {}, "Current generation ", h("strong", { id: "current-generation" }, s.current ?? "none"),
        ` · total lag `, h("strong", { id: "total-lag" }, s.lag),
        ` · projector members: ${s.members.length ? s.members.join(", ") : "none (no projector runs)"}`,
        ` · dead letters: ${s.dead_letters.unhandled} unhandled of ${s.dead_letters.records}`),
      lagChart(samples),
      table(
        [
          { label: "Partition", num: true, cell: (p) => p.partition },
          { label: "Applied offset", num: true, cell: (p) => p.applied_offset },
          { label: "End offset", num: true, cell: (p) => p.end_offset },
          { label: "Lag", num: true, cell: (p) => p.lag },
          { label: "Newest event age", num: true, cell: (p) => age(p.newest_event_age_s) },
          { label: "Projector report age", num: true, cell: (p) => age(p.report_age_s) },
        ],
        s.partitions,
        `Partitions of generation ${s.current ?? "—"}`,
      ),
      h("h3", {}, "Generations"),
      h("p", {}, `Being built: ${building.map((g) => g.generation).join(", ") || "none"} · bounded: ${bounded.map((g) => `${g.generation} (until ${g.until})`).join(", ") || "none"}`),
      table(
        [
          { label: "Generation", cell: (g) => `${g.generation}${g.current ? " (current)" : ""}` },
          { label: "State", cell: (g) => g.state },
          { label: "Origin", cell: (g) => g.origin },
          { label: "Created", cell: (g) => g.created_at },
          { label: "Until", cell: (g) => g.until ?? "" },
          { label: "Events applied", num: true, cell: (g) => g.events_applied },
        ],
        s.generations,
      ),
    );
  }
  poll(refresh, POLL_MS);
}

// -- jobs (admin actions that run a while) ----------------------------------------------

function jobPanel(id) {
  return h("div", { id, class: "job", "aria-live": "polite" });
}

async function followJob(panel, job, describe) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": "Progress" });
  const phase = h("p", {}, job.phase);
  panel.replaceChildren(bar, phase);
  for (;;) {
    if (job.total) { bar.max = job.total; bar.value = job.done; }
    phase.textContent = `${job.phase}${job.total ? ` · ${job.done} of ${job.total} events` : ""}`;
    if (job.state !== "running") break;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const answer = await api(`jobs/${job.id}`);
    if (answer.status !== 200) { phase.textContent = problem(answer); return; }
    job = answer.body;
  }
  bar.max = 1; bar.value = job.state === "done" ? 1 : 0;
  panel.replaceChildren(
    h("p", { class: job.state === "done" ? "ok" : "error", "data-state": job.state },
      job.state === "done" ? `Done in ${job.seconds} s` : `${job.state}: ${job.error}`),
    job.result ? describe(job.result) : null,
  );
}

async function startJob(path, panel, describe, question) {
  if (!confirm(question)) return;
  const answer = await api(path, { method: "POST", body: {} });
  if (answer.status !== 202) { panel.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
  await followJob(panel, answer.body, describe);
}

function rebuiltText(r) {
  return r ? `Generation ${r.generation} is current (was ${r.replaced ?? "none"}): ${r.events} events in ${r.seconds} s` : "No rebuild was needed.";
}

// -- dead letters ------------------------------------------------------------------------

function deadLettersPage(params) {
  const all = params.get("all") === "true";
  const body = h("div", { id: "dead-letters" }, h("p", {}, "Loading…"));
  const panel = jobPanel("dlq-job");
  const toggle = h("input", { id: "include-handled", type: "checkbox", checked: all,
    onchange: () => { location.hash = `#/dead-letters?all=${toggle.checked}`; } });
  const admin = session?.can_act
    ? h("section", { "aria-labelledby": "dlq-act-h" },
        h("h3", { id: "dlq-act-h" }, "Act (admin)"),
        h("button", { type: "button", id: "replay-dead-letters", onclick: () => startJob("dead-letters/replay", panel, (r) => h("div", {},
          h("p", {}, `${r.readable} of ${r.letters} dead letter(s) are readable with the current code.`),
          h("p", {}, rebuiltText(r.rebuilt)),
          r.still_unreadable.length ? table([
            { label: "Partition", num: true, cell: (d) => d.partition },
            { label: "Offset", num: true, cell: (d) => d.offset },
            { label: "Still unreadable because", cell: (d) => d.reason },
          ], r.still_unreadable) : null,
        ), "Re-decode every unhandled dead letter with the current code, rebuild the views if some are readable now, and mark them handled?").then(() => load()) },
        "Replay dead letters"),
        panel)
    : null;
  show(h("h2", {}, "Dead letters"),
    h("p", {}, h("label", { for: "include-handled", class: "row" }, h("span", {}, "Include handled ones"), toggle)),
    admin, body);
  async function load() {
    const answer = await api(`dead-letters?all=${all}&limit=100`);
    if (answer.status !== 200) { body.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
    const d = answer.body;
    const columns = [
      { label: "Partition", num: true, cell: (l) => l.partition },
      { label: "Offset", num: true, cell: (l) => l.offset },
      { label: "Reason", cell: (l) => l.reason },
      { label: "Source", cell: (l) => `events ${l.source_partition}@${l.source_offset}` },
      { label: "Value", cell: (l) => h("pre", {}, l.value !== null ? l.value : `(not UTF-8; base64) ${l.value_base64}`, l.truncated ? ` … (${l.value_bytes} bytes)` : "") },
      { label: "Handled", cell: (l) => (l.handled ? "yes" : "no") },
      { label: "Readable now", cell: (l) => (l.readable_now ? "yes" : "no") },
    ];
    if (session?.can_act) {
      columns.push({ label: "Action", cell: (l) => l.handled ? "" : h("button", { type: "button", class: "secondary",
        "aria-label": `Mark handled up to partition ${l.partition} offset ${l.offset}`,
        onclick: async () => {
          if (!confirm(`Mark the dead letters of partition ${l.partition} up to offset ${l.offset} handled? They will not be replayed.`)) return;
          const done = await api("dead-letters/handled", { method: "POST", body: { partition: l.partition, offset: l.offset } });
          say(done.status === 200 ? `Marked handled up to ${l.partition}@${l.offset}` : problem(done), done.status === 200 ? "" : "error");
          load();
        } }, "Mark handled") });
    }
    body.replaceChildren(
      h("p", { id: "dlq-counts" }, `${d.unhandled} unhandled of ${d.records} dead letter(s) in ${d.topic}`),
      table(columns, d.letters, d.letters.length ? null : "none"),
    );
  }
  load();
}

// -- operations --------------------------------------------------------------------------

function operationsPage() {
  const replayPanel = jobPanel("replay-job");
  const verifyPanel = jobPanel("verify-job");
  const deciders = h("div", { id: "deciders" }, "Loading…");
  const audit = h("div", { id: "audit" }, "Loading…");
  const acting = session?.can_act
    ? h("section", { "aria-labelledby": "act-h" },
        h("h3", { id: "act-h" }, "Act (admin)"),
        h("p", {}, h("button", { type: "button", id: "start-replay", onclick: () => startJob("replays", replayPanel,
          (r) => h("p", {}, rebuiltText(r)),
          "Rebuild every view from the start of the log into a new generation, then switch to it? Queries keep answering meanwhile.").then(loadAudit) },
          "Start blue/green replay")),
        replayPanel,
        h("p", {}, h("button", { type: "button", id: "run-verify", onclick: () => startJob("verify", verifyPanel,
          (r) => h("div", {}, h("p", { class: r.equal ? "ok" : "error", id: "verify-result" }, r.equal
            ? `Generation ${r.generation}: the views equal the fold of ${r.events} events`
            : `Generation ${r.generation}: ${r.differences} difference(s) from the fold of ${r.events} events`),
            r.first.length ? h("ul", {}, r.first.map((t) => h("li", {}, t))) : null),
          "Fold the whole log and compare it with the views?").then(loadAudit) }, "Run verify")),
        verifyPanel)
    : null;
  show(h("h2", {}, "Operations"), acting,
    h("section", { "aria-labelledby": "deciders-h" }, h("h3", { id: "deciders-h" }, "Deciders"), deciders),
    h("section", { "aria-labelledby": "audit-h" }, h("h3", { id: "audit-h" }, "Audit trail"), audit));
  async function loadDeciders() {
    const answer = await api("deciders");
    if (answer.status !== 200) { deciders.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
    deciders.replaceChildren(table(
      [
        { label: "Decider", cell: (d) => d.url },
        { label: "Ready", cell: (d) => (d.reachable ? (d.ready ? "ready" : `not ready (${d.status})`) : `unreachable: ${d.error}`) },
        { label: "Partitions", cell: (d) => Object.entries(d.partitions || {}).map(([p, s]) => `${p}: ${s.replace("_", " ")}`).join(", ") || "none" },
        { label: "Checks", cell: (d) => Object.entries(d.checks || {}).map(([k, v]) => `${k}: ${v ? "ok" : "no"}`).join(", ") },
        { label: "Writer", cell: (d) => d.transactional_id ?? "" },
      ],
      answer.body.deciders,
    ));
  }
  async function loadAudit() {
    const answer = await api("audit?limit=50");
    if (answer.status !== 200) { audit.replaceChildren(h("p", { class: "error" }, problem(answer))); return; }
    audit.replaceChildren(table(
      [
        { label: "When", cell: (e) => e.at },
        { label: "Who", cell: (e) => (e.actor ? `${e.actor.role} ${e.actor.name}` : "?") },
        { label: "Action", cell: (e) => e.action },
        { label: "Outcome", cell: (e) => e.outcome },
        { label: "Detail", cell: (e) => h("pre", {}, json(e.detail ?? {})) },
      ],
      answer.body.entries,
      `The last ${answer.body.entries.length} step(s) in ${answer.body.topic}, newest first`,
    ));
  }
  poll(loadDeciders, 2 * POLL_MS);
  loadAudit();
}

// -- routing -----------------------------------------------------------------------------

async function route() {
  // Only "#/..." is a page; another fragment (the skip link's "#main") is a place on it.
  if (location.hash && !location.hash.startsWith("#/")) return;
  routeGeneration += 1;
  const [path, query] = (location.hash.slice(1) || "/orders").split("?");
  const params = new URLSearchParams(query || "");
  if (!sessionStorage.getItem(TOKEN_KEY) && path !== "/login") {
    // An open console (no tokens configured) lets everyone in; else the sign-in page.
    const open = await api("session");
    if (open.status === 200) { await loadSession(); } else { location.hash = "#/login"; return; }
  } else if (!session && path !== "/login") {
    if (!(await loadSession())) { signOut("Sign in with a reader or admin token."); return; }
  }
  for (const a of document.querySelectorAll("nav a")) {
    if (path.startsWith(a.getAttribute("href").slice(1))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const titles = { "/login": "Sign in", "/orders": "Orders", "/projection": "Projection", "/dead-letters": "Dead letters", "/operations": "Operations" };
  document.title = `${titles[path] ?? "Order"} · Ordersource console`;
  main.focus();
  if (path === "/login") loginPage();
  else if (path === "/orders") ordersPage(params);
  else if (path.startsWith("/orders/")) await orderPage(decodeURIComponent(path.slice("/orders/".length)));
  else if (path === "/projection") projectionPage();
  else if (path === "/dead-letters") deadLettersPage(params);
  else if (path === "/operations") operationsPage();
  else show(h("h2", {}, "Not found"), h("p", {}, h("a", { href: "#/orders" }, "Orders")));
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
route();
