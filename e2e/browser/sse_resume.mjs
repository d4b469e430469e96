// sse_resume.mjs drives Debian's chromium through playwright-core for
// e2e/browser_test.go: it opens the SSE lab page (web/static/lab-sse.html),
// reports what the page sees while the Go test publishes and cuts the
// network, and answers with every publication the page received.
//
//   node e2e/browser/sse_resume.mjs <page URL> --chromium /usr/bin/chromium \
//        [--artifacts DIR] [--name NAME] [--timeout SECONDS] [--stall SECONDS]
//
// It talks to the test in JSON lines. On stdout:
//
//   {"type":"connected","count":N,"channels":{...}}  each connected event the page gets
//   {"type":"error","count":N}                       each error event (a drop, a refused attempt)
//   {"type":"result",...}                            last: see finish below
//
// On stdin the test sends one line, {"expect":N}, once it has published N
// publications; the script then waits until the page holds N — or until
// --timeout has passed since the start, or the page has received nothing
// new for --stall seconds — saves a screenshot and answers. Everything else (the page's
// console, the browser's complaints) goes to stderr for the test's log.
//
// The script checks nothing itself: the test decides what is right.

import { mkdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    chromium: { type: "string" },
    artifacts: { type: "string", default: "test-artifacts" },
    name: { type: "string", default: "sse_resume" },
    timeout: { type: "string", default: "120" },
    stall: { type: "string", default: "10" },
  },
});
if (positionals.length !== 1 || !opts.chromium) {
  console.error("usage: node sse_resume.mjs <page URL> --chromium PATH " +
    "[--artifacts DIR] [--name NAME] [--timeout SECONDS] [--stall SECONDS]");
  process.exit(2);
}
const pageURL = positionals[0];
const deadline = Date.now() + Number(opts.timeout) * 1000;
// Once the test has published everything, the page is connected and the
// rest arrives live: a page that gets nothing for this long is stuck.
const stallMillis = Number(opts.stall) * 1000;

const emit = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
const log = (...args) => console.error("[browser]", ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The test's one line: how many publications to wait for. Null when stdin
// ends without it (the test gave up).
const expected = new Promise((resolve) => {
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    try {
      const { expect } = JSON.parse(line);
      if (Number.isSafeInteger(expect)) resolve(expect);
    } catch {
      log("ignoring stdin line", JSON.stringify(line));
    }
  });
  lines.on("close", () => resolve(null));
});

// Debian's chromium, as packaged: no browser download, no sandbox (tests
// may run as root, where it cannot start), nothing that talks to Google.
const browser = await chromium.launch({
  executablePath: opts.chromium,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let exitCode = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  // The browser logs every failed request to the console, so console
  // errors are expected here; an exception thrown by the page is not.
  const problems = { consoleErrors: [], pageErrors: [] };
  page.on("console", (m) => {
    log(`console.${m.type()}:`, m.text());
    if (m.type() === "error") problems.consoleErrors.push(m.text());
  });
  page.on("pageerror", (err) => {
    log("page error:", err.message);
    problems.pageErrors.push(err.message);
  });
  page.on("requestfailed", (r) => log("request failed:", r.url(), r.failure()?.errorText));

  await page.goto(pageURL, { waitUntil: "load" });
  const result = await watch(page);
  emit({ type: "result", ...result, ...problems });
} catch (err) {
  log("failed:", err.stack || err);
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);

// watch reports the page's connected and error events as they happen, and
// once the test says how many publications to expect, waits for them.
async function watch(page) {
  let connected = 0;
  let errors = 0;
  let expect = null;
  let gotExpect = false;
  expected.then((n) => {
    expect = n;
    gotExpect = true;
  });
  const state = () => page.evaluate(() => ({
    counts: window.counts,
    connections: window.connections,
    received: window.received.length,
  }));

  let s = await state();
  let timedOut = false;
  let seen = s.received;
  let lastChange = Date.now();
  for (;;) {
    for (; connected < s.counts.connected; connected++) {
      emit({ type: "connected", count: connected + 1, channels: s.connections[connected].channels });
    }
    for (; errors < s.counts.error; errors++) {
      emit({ type: "error", count: errors + 1 });
    }
    if (s.received !== seen) {
      seen = s.received;
      lastChange = Date.now();
    }
    if (gotExpect && (expect === null || s.received >= expect)) break;
    const stalled = gotExpect && Date.now() - lastChange > stallMillis;
    if (stalled || Date.now() > deadline) {
      timedOut = true;
      log(`${stalled ? "stalled" : "timed out"} with ${s.received} publications` +
        (expect === null ? "" : ` of ${expect}`));
      break;
    }
    await sleep(50);
    s = await state();
  }

  // Anything delivered twice would arrive right behind the last expected
  // publication: give it a moment to show before reading the list.
  if (!timedOut && expect !== null) await sleep(500);

  const received = await page.evaluate(() => window.received);
  await mkdir(opts.artifacts, { recursive: true });
  const screenshot = path.resolve(opts.artifacts, opts.name + ".png");
  await page.screenshot({ path: screenshot, fullPage: true });
  const final = await state();
  return {
    expect,
    timedOut,
    offsets: received.map((p) => p.offset),
    channels: [...new Set(received.map((p) => p.channel))],
    epochs: [...new Set(received.map((p) => p.epoch))],
    counts: final.counts,
    connections: final.connections,
    screenshot,
  };
}
