// The page of `smbus-proxy web` in a real browser: Debian's chromium, headless, driven by
// Playwright, against `smbus-proxy serve` on the simulator's demo bus. Other processes act on
// the bus as a driver would (`smbus-proxy set`, `get`), and the page must show it: the scan's
// devices on the address map, a register's cell flashing and the plot gaining a point, a NACK
// as one, the table narrowed by a filter; the download is a capture tshark reads; a page of
// another origin cannot write. A screenshot of each view goes to target/web-screenshots.
//
//     node tests/web/page.mjs     (after `npm ci --prefix tests/web` and a debug build)

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const target = process.env.CARGO_TARGET_DIR || join(root, "target");
const binary = join(target, "debug/smbus-proxy");
const shots = join(target, "web-screenshots");
mkdirSync(shots, { recursive: true });
const children = [];

// Starts a process and resolves with the first line of `stream` that `pattern` matches.
function start(args, stream, pattern) {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child[stream] });
    lines.on("line", (line) => {
      const m = line.match(pattern);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

function cli(...args) {
  try {
    return execFileSync(binary, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    return e.stdout + e.stderr;
  }
}

const step = (what) => console.log(`page: ${what}`);

const serverAddr = await start(["serve", "--simulate", "--listen", "127.0.0.1:0"], "stderr", /server started.*addr=(\S+)/);
const server = `http://${serverAddr}`;
const url = await start(["web", "--server", server, "--listen", "127.0.0.1:0", "--allow-writes"], "stdout", /^(http:\S+)$/);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--no-first-run"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector("#bus option", { state: "attached" });

  step("the address map marks the lab's devices after a scan");
  await page.click("#scan");
  await page.waitForFunction(() => /found/.test(document.getElementById("scan-state").textContent));
  assert.equal(await page.textContent("#scan-state"), "5 found");
  await page.waitForFunction(() => document.querySelectorAll("#map .cell.found").length === 5);
  const found = await page.$$eval("#map .cell.found", (cells) => cells.map((c) => c.textContent));
  // The demo bus: Si4703 0x10, PCF8574 0x20, register file 0x48, 24C02 0x50, BME280 0x76.
  assert.deepEqual(found, ["10", "20", "48", "50", "76"]);
  await page.locator("#map-view").screenshot({ path: join(shots, "address-map.png") });

  step("a set from another process flashes its register's cell and adds a point to the plot");
  await page.fill("#device", "0x48");
  await page.dispatchEvent("#device", "change");
  await page.fill("#plot-register", "0x10");
  await page.dispatchEvent("#plot-register", "change");
  await page.click("#read");
  await page.waitForFunction(() => document.getElementById("reg-16").textContent === "00");
  // The page's own read of registers 0x00–0x1F is the plot's first point.
  await page.waitForFunction(() => document.getElementById("plot-points").textContent === "1 points");
  assert.match(cli("set", "-y", "--server", server, "1", "0x48", "0x10", "0x42"), /^$/);
  await page.waitForFunction(() => document.getElementById("reg-16").textContent === "42");
  assert.equal(await page.getAttribute("#reg-16", "class"), "changed");
  await page.waitForFunction(() => document.getElementById("plot-points").textContent === "2 points");
  cli("set", "-y", "--server", server, "1", "0x48", "0x10", "0x47");
  await page.waitForFunction(() => document.getElementById("plot-points").textContent === "3 points");
  await page.locator("#registers-view").screenshot({ path: join(shots, "registers.png") });
  await page.locator("#plot-view").screenshot({ path: join(shots, "plot.png") });

  step("a NACK shows as one, on the map and in the table");
  assert.match(cli("get", "-y", "--server", server, "1", "0x33", "0x00"), /ENXIO|failed/);
  await page.waitForFunction(() => document.getElementById("addr-51").classList.contains("nack"));
  await page.waitForFunction(() => [...document.querySelectorAll("#traffic tr.error td")].some((td) => td.textContent === "ENXIO"));

  step("a filter narrows the table");
  await page.fill("#filter-addr", "0x33");
  await page.dispatchEvent("#filter-addr", "input");
  const addrs = await page.$$eval("#traffic tbody tr", (rows) => rows.map((r) => r.children[3].textContent));
  assert.ok(addrs.length >= 1 && addrs.every((a) => a === "0x33"), `rows: ${addrs}`);
  await page.locator("#traffic-view").screenshot({ path: join(shots, "traffic.png") });
  await page.fill("#filter-addr", "");
  await page.dispatchEvent("#filter-addr", "input");

  step("who holds the bus: the page's own session, after its reads");
  await page.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length >= 1);
  await page.locator("#status-view").screenshot({ path: join(shots, "status.png") });
  await page.screenshot({ path: join(shots, "page.png"), fullPage: true });

  step("the download is a capture tshark reads");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=pcapng")]);
  const capture = join(mkdtempSync(join(tmpdir(), "web-")), "bus.pcapng");
  await download.saveAs(capture);
  const packets = execFileSync("tshark", ["-r", capture, "-T", "fields", "-e", "i2c.addr"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  assert.ok(packets.split("\n").includes("0x48") || packets.split("\n").includes("0x00000048"), packets);

  step("a page from another origin cannot write");
  const other = createServer((_, response) => {
    response.setHeader("Content-Type", "text/html");
    response.end("<!doctype html><title>elsewhere</title>");
  });
  await new Promise((resolve) => other.listen(0, "127.0.0.1", resolve));
  const elsewhere = await context.newPage();
  await elsewhere.goto(`http://127.0.0.1:${other.address().port}/`);
  const attempts = await elsewhere.evaluate(async (api) => {
    const body = JSON.stringify({ bus: 1, addr: 0x48, register: 0x11, value: 0x99 });
    const tries = [
      fetch(api, { method: "POST", headers: { "Content-Type": "application/json" }, body }),
      fetch(api, { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body }),
    ];
    return Promise.all(tries.map((t) => t.then((r) => `status ${r.status} ${r.type}`, (e) => `refused: ${e.name}`)));
  }, `${url}api/write`);
  other.close();
  assert.equal(attempts[0], "refused: TypeError", "the browser's CORS check stops the JSON write");
  assert.match(attempts[1], /^status 0 opaque$/, "a simple write goes, but the page refuses it");
  assert.match(cli("get", "-y", "--server", server, "1", "0x48", "0x11"), /^0x00$/m, "nothing written");

  assert.deepEqual(errors, [], "the page's own script ran without errors");
  step(`ok; screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  for (const child of children) child.kill();
}
process.exit(failed ? 1 : 0);
