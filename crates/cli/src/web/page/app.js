// The page: reads the process's feed of the bus (/api/events) a few times a second, and draws
// at most what a screen can show: the address map's glow by age, the newest rows of the table,
// the register view and plot for the device chosen. Nothing here comes from anywhere but this
// process.
"use strict";

const ROWS = 500;          // rows the traffic table keeps
const POINTS = 2000;       // points a plot keeps
const POLL_MS = 250;
const GLOW_MS = 3000;      // how long an address takes to fade

const $ = (id) => document.getElementById(id);
const hex = (n, digits = 2) => "0x" + n.toString(16).padStart(digits, "0");
const parseNumber = (text) => {
  const t = text.trim();
  if (t === "") return null;
  const n = t.startsWith("0x") || t.startsWith("0X") ? parseInt(t.slice(2), 16) : parseInt(t, 10);
  return Number.isFinite(n) ? n : null;
};

const state = {
  next: 0, bus: null, writes: false, paused: false, claimed: new Set(),
  seen: new Map(),          // address -> {time, nack}
  found: new Set(),         // addresses the last scan found
  registers: new Map(),     // register -> byte, for the device in the register view
  points: [],               // [time, value] for the plot
  rows: [],                 // events kept for the table
  arrivals: [],             // times of recent events, for the rate
  lost: 0, missed: 0,
};

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

async function start() {
  const info = await getJson("/api/info");
  $("server").textContent = info.server;
  state.writes = info.writes;
  $("write-state").textContent = info.writes ? "click a register to write it" : "read-only (--allow-writes to write)";
  for (const bus of info.buses) {
    const option = document.createElement("option");
    option.value = bus.number;
    option.textContent = `${bus.number}: ${bus.name}`;
    option.dataset.claimed = JSON.stringify(bus.claimed);
    $("bus").append(option);
  }
  $("bus").addEventListener("change", chooseBus);
  chooseBus();
  buildMap();
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").classList.toggle("on", state.paused);
    $("pause").textContent = state.paused ? "Paused" : "Pause";
  });
  for (const id of ["filter-addr", "filter-register", "filter-session", "filter-errors"]) {
    $(id).addEventListener("input", renderTable);
  }
  $("read").addEventListener("click", readRegisters);
  $("scan").addEventListener("click", scan);
  $("device").addEventListener("change", () => { state.registers.clear(); renderRegisters(); });
  for (const id of ["plot-register", "plot-kind", "plot-scale", "device"]) {
    $(id).addEventListener("change", () => { state.points = []; drawPlot(); });
  }
  poll();
  setInterval(pollStatus, 1000);
  pollStatus();
  requestAnimationFrame(drawMap);
}

function chooseBus() {
  const option = $("bus").selectedOptions[0];
  state.bus = option ? Number(option.value) : null;
  state.claimed = new Set(option ? JSON.parse(option.dataset.claimed) : []);
  state.seen.clear();
  state.found.clear();
}

// Probes the bus as `smbus-proxy detect` does, and marks what answered.
async function scan() {
  $("scan-state").textContent = "scanning…";
  try {
    const result = await postJson("/api/scan", { bus: state.bus });
    state.found = new Set(result.found);
    for (const addr of result.claimed) state.claimed.add(addr);
    $("scan-state").textContent = `${result.found.length} found`;
  } catch (e) {
    $("scan-state").textContent = e.message;
  }
}

function buildMap() {
  const map = $("map");
  map.append(Object.assign(document.createElement("div"), { className: "head" }));
  for (let col = 0; col < 16; col++) {
    map.append(Object.assign(document.createElement("div"), { className: "head", textContent: col.toString(16) }));
  }
  for (let row = 0; row < 8; row++) {
    map.append(Object.assign(document.createElement("div"), { className: "head", textContent: hex(row * 16) }));
    for (let col = 0; col < 16; col++) {
      const addr = row * 16 + col;
      const cell = Object.assign(document.createElement("div"), { className: "cell", id: `addr-${addr}` });
      cell.textContent = addr.toString(16).padStart(2, "0");
      cell.addEventListener("click", () => { $("device").value = hex(addr); state.registers.clear(); renderRegisters(); });
      map.append(cell);
    }
  }
}

// An address's colour by how long ago it was last addressed: white, then yellow, purple and
// blue as it fades, as I2CDriver's map does; red for a NACK.
function glow(age, nack) {
  const t = Math.min(age / GLOW_MS, 1);
  if (nack) return `rgba(255, 77, 77, ${1 - 0.8 * t})`;
  const stops = [[255, 255, 255], [255, 213, 74], [160, 80, 200], [40, 60, 140]];
  const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function drawMap() {
  const now = Date.now();
  for (let addr = 0; addr < 128; addr++) {
    const cell = $(`addr-${addr}`);
    const seen = state.seen.get(addr);
    cell.classList.toggle("claimed", state.claimed.has(addr));
    cell.classList.toggle("found", state.found.has(addr));
    cell.classList.toggle("seen", !!seen && !seen.nack);
    cell.classList.toggle("nack", !!seen && seen.nack);
    cell.style.background = seen ? glow(now - seen.time, seen.nack) : "";
    cell.title = seen ? `${hex(addr)}: ${seen.nack ? "not acknowledged" : "acknowledged"} ${((now - seen.time) / 1000).toFixed(1)} s ago` : hex(addr);
  }
  setTimeout(() => requestAnimationFrame(drawMap), 100);
}

async function poll() {
  try {
    const feed = await getJson(`/api/events?after=${state.next}`);
    state.next = feed.next;
    state.lost = feed.lost;
    state.missed += feed.missed;
    for (const event of feed.events) take(event);
    $("lost").textContent = state.lost + state.missed > 0 ? `lost ${state.lost + state.missed}` : "";
    const now = Date.now();
    state.arrivals = state.arrivals.filter((t) => now - t < 1000);
    $("rate").textContent = `${state.arrivals.length} ops/s`;
    if (!state.paused) renderTable();
    if (feed.events.length >= 2000) return setTimeout(poll, 0);
  } catch (e) {
    $("lost").textContent = "disconnected";
  }
  setTimeout(poll, POLL_MS);
}

function take(event) {
  state.arrivals.push(Date.now());
  if (event.bus !== state.bus) return;
  if (event.addr !== null && event.addr < 128 && !state.paused) {
    state.seen.set(event.addr, { time: Date.now(), nack: event.nack });
  }
  const device = parseNumber($("device").value);
  if (event.ok && event.register !== null && event.addr === device) {
    event.data.forEach((byte, i) => setRegister(event.register + i, byte));
    plotFrom(event);
  }
  // A register write and the read that follows it, in one session, on one line.
  const last = state.rows[state.rows.length - 1];
  if (last && last.write && !event.write && event.register !== null && last.register === event.register
      && last.addr === event.addr && last.session === event.session && !last.merged) {
    last.merged = event;
  } else {
    state.rows.push(event);
    if (state.rows.length > ROWS) state.rows.splice(0, state.rows.length - ROWS);
  }
}

function setRegister(register, byte) {
  if (register > 255) return;
  const before = state.registers.get(register);
  state.registers.set(register, byte);
  const cell = $(`reg-${register}`);
  if (!cell) return renderRegisters();
  cell.textContent = byte.toString(16).padStart(2, "0");
  if (before !== undefined && before !== byte) {
    cell.classList.remove("changed");
    void cell.offsetWidth; // restarts the highlight
    cell.classList.add("changed");
  }
}

function matches(event) {
  const addr = parseNumber($("filter-addr").value);
  const register = parseNumber($("filter-register").value);
  const session = $("filter-session").value.trim();
  if (addr !== null && event.addr !== addr) return false;
  if (register !== null && event.register !== register && !(event.merged && event.merged.register === register)) return false;
  if (session && !event.session.startsWith(session)) return false;
  if ($("filter-errors").checked && event.ok && (!event.merged || event.merged.ok)) return false;
  return true;
}

function renderTable() {
  const body = $("traffic").tBodies[0];
  const rows = [];
  for (let i = state.rows.length - 1; i >= 0 && rows.length < 200; i--) {
    const e = state.rows[i];
    if (!matches(e)) continue;
    const tr = document.createElement("tr");
    const ok = e.ok && (!e.merged || e.merged.ok);
    if (!ok) tr.className = "error";
    const operation = e.merged ? `${e.op}; ${e.merged.op}` : e.op;
    const result = e.merged ? `${e.result}; ${e.merged.result}` : e.result;
    const cells = [new Date(e.time).toISOString().slice(11, 23), e.session.slice(0, 8), e.peer || "",
      e.addr === null ? "" : hex(e.addr), operation, result, e.took_us + (e.merged ? e.merged.took_us : 0)];
    for (const text of cells) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
    tr.dataset.addr = e.addr;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function renderRegisters() {
  const table = $("registers");
  const header = document.createElement("tr");
  header.append(document.createElement("th"));
  for (let col = 0; col < 16; col++) header.append(Object.assign(document.createElement("th"), { textContent: col.toString(16) }));
  const rows = [header];
  for (let row = 0; row < 16; row++) {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { textContent: hex(row * 16) }));
    for (let col = 0; col < 16; col++) {
      const register = row * 16 + col;
      const value = state.registers.get(register);
      const td = Object.assign(document.createElement("td"), { id: `reg-${register}` });
      td.textContent = value === undefined ? "--" : value.toString(16).padStart(2, "0");
      td.addEventListener("click", () => writeRegister(register));
      tr.append(td);
    }
    rows.push(tr);
  }
  table.replaceChildren(...rows);
}

async function readRegisters() {
  const addr = parseNumber($("device").value);
  if (addr === null || state.bus === null) return;
  for (let register = 0; register < 256; register += 32) {
    try {
      const { data } = await postJson("/api/read", { bus: state.bus, addr, register, count: 32 });
      data.forEach((byte, i) => setRegister(register + i, byte));
    } catch (e) {
      $("write-state").textContent = e.message;
      return;
    }
  }
}

async function writeRegister(register) {
  if (!state.writes) return;
  const addr = parseNumber($("device").value);
  const text = prompt(`${hex(register)} of ${hex(addr)}: new value`);
  const value = text === null ? null : parseNumber(text);
  if (addr === null || value === null || value < 0 || value > 255) return;
  try {
    await postJson("/api/write", { bus: state.bus, addr, register, value });
  } catch (e) {
    $("write-state").textContent = e.message;
  }
}

// The plotted register's value in an event, as the kind chosen says.
function plotFrom(event) {
  const register = parseNumber($("plot-register").value);
  if (register === null) return;
  const kind = $("plot-kind").value, wide = kind !== "u8";
  const at = register - event.register;
  if (at < 0 || at + (wide ? 2 : 1) > event.data.length) return;
  const [a, b] = [event.data[at], event.data[at + 1]];
  let value = kind === "u8" ? a : kind.endsWith("le") ? a | (b << 8) : (a << 8) | b;
  if (kind.startsWith("s") && value >= 0x8000) value -= 0x10000;
  value *= Number($("plot-scale").value) || 1;
  state.points.push([event.time, value]);
  if (state.points.length > POINTS) state.points.splice(0, state.points.length - POINTS);
  drawPlot();
}

function drawPlot() {
  const canvas = $("plot"), g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  $("plot-points").textContent = `${state.points.length} points`;
  if (state.points.length === 0) return;
  const times = state.points.map((p) => p[0]), values = state.points.map((p) => p[1]);
  const [t0, t1] = [Math.min(...times), Math.max(...times) || 1];
  let [v0, v1] = [Math.min(...values), Math.max(...values)];
  if (v0 === v1) { v0 -= 1; v1 += 1; }
  const x = (t) => 40 + (canvas.width - 50) * (t1 === t0 ? 1 : (t - t0) / (t1 - t0));
  const y = (v) => canvas.height - 20 - (canvas.height - 30) * (v - v0) / (v1 - v0);
  g.fillStyle = "#7d8894";
  g.font = "11px monospace";
  g.fillText(String(v1), 2, 12);
  g.fillText(String(v0), 2, canvas.height - 20);
  g.strokeStyle = "#ffd54a";
  g.beginPath();
  state.points.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
  g.stroke();
  g.fillStyle = "#ffd54a";
  for (const [t, v] of state.points) g.fillRect(x(t) - 2, y(v) - 2, 4, 4);
}

async function pollStatus() {
  try {
    const status = await getJson("/api/status");
    const bus = status.buses.find((b) => b.number === state.bus);
    const rows = (bus ? bus.sessions : []).map((s) => {
      const tr = document.createElement("tr");
      const lock = s.lock_held_ms != null ? `holds ${s.lock_held_ms} ms` : s.lock_wait_ms != null ? `waits ${s.lock_wait_ms} ms` : "";
      for (const text of [s.session, s.peer, lock, s.operations, s.errors, `${s.idle_ms} ms`]) {
        tr.append(Object.assign(document.createElement("td"), { textContent: text }));
      }
      return tr;
    });
    $("sessions").tBodies[0].replaceChildren(...rows);
  } catch (e) { /* the next poll says it */ }
}

renderRegisters();
start();
