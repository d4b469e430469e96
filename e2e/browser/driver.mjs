// driver.mjs lets a Go test drive Debian's chromium through playwright-core,
// one request at a time, so the whole test — what to publish, what to cut,
// what to check — stays in Go (see e2e/browser_driver_test.go).
//
//   node e2e/browser/driver.mjs --chromium /usr/bin/chromium [--artifacts DIR]
//
// Requests come on stdin, one JSON object a line; each gets one answer line
// on stdout with the same id: {"id":N,"ok":true,"value":...} or
// {"id":N,"ok":false,"error":"..."}. The operations:
//
//   {"op":"open","page":"a","url":"..."}          a new page (tab) named a, loaded
//       ..."context":"c"                          in browser context c, shared by the pages that name it
//   {"op":"close","page":"a"}                     closes the tab as a person does (unload handlers run)
//   {"op":"crash","page":"a"}                     crashes the tab's renderer (CDP Page.crash)
//   {"op":"eval","page":"a","js":"expr"}          the value of a JS expression (promises awaited)
//   {"op":"wait","page":"a","js":"expr","timeout":ms}  until expr is truthy; its value
//   {"op":"fill","page":"a","selector":"...","text":"..."}
//   {"op":"press","page":"a","selector":"...","key":"Enter"}
//   {"op":"click","page":"a","selector":"..."}
//   {"op":"screenshot","page":"a","name":"chat"}  saves DIR/name.png; its path
//   {"op":"errors","page":"a"}                    exceptions the page threw so far
//
// Everything the pages log goes to stderr, for the test's log. The driver
// exits when stdin ends, closing the browser.

import { mkdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opts } = parseArgs({
  options: {
    chromium: { type: "string" },
    artifacts: { type: "string", default: "test-artifacts" },
  },
});
if (!opts.chromium) {
  console.error("usage: node driver.mjs --chromium PATH [--artifacts DIR]");
  process.exit(2);
}
const log = (...args) => console.error("[browser]", ...args);

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
// Each page gets a context of its own: separate storage, like two people;
// pages that name the same context are tabs of one person's browser.
const pages = new Map();
const contexts = new Map();

async function open(name, url, context) {
  let ctx = context && contexts.get(context);
  if (!ctx) {
    ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    if (context) contexts.set(context, ctx);
  }
  const page = await ctx.newPage();
  const entry = { page, errors: [] };
  page.on("console", (m) => log(`${name} console.${m.type()}:`, m.text()));
  page.on("pageerror", (err) => {
    log(`${name} page error:`, err.message);
    entry.errors.push(err.message);
  });
  page.on("requestfailed", (r) => log(`${name} request failed:`, r.url(), r.failure()?.errorText));
  pages.set(name, entry);
  await page.goto(url, { waitUntil: "load" });
  return null;
}

function pageOf(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${JSON.stringify(name)}`);
  return p;
}

async function handle(req) {
  switch (req.op) {
    case "open":
      return open(req.page, req.url, req.context);
    case "close": {
      const { page } = pageOf(req.page);
      pages.delete(req.page);
      await page.close({ runBeforeUnload: true });
      return null;
    }
    case "crash": {
      const { page } = pageOf(req.page);
      pages.delete(req.page);
      const cdp = await page.context().newCDPSession(page);
      // The renderer dies mid-command: no answer comes.
      cdp.send("Page.crash").catch(() => {});
      await new Promise((resolve) => page.once("crash", resolve));
      return null;
    }
    case "eval":
      return pageOf(req.page).page.evaluate(req.js);
    case "wait": {
      const h = await pageOf(req.page).page.waitForFunction(req.js, undefined, { timeout: req.timeout ?? 30000, polling: 50 });
      return h.jsonValue();
    }
    case "fill":
      return pageOf(req.page).page.fill(req.selector, req.text).then(() => null);
    case "press":
      return pageOf(req.page).page.press(req.selector, req.key).then(() => null);
    case "click":
      return pageOf(req.page).page.click(req.selector).then(() => null);
    case "screenshot": {
      await mkdir(opts.artifacts, { recursive: true });
      const file = path.resolve(opts.artifacts, `${req.name}.png`);
      await pageOf(req.page).page.screenshot({ path: file, fullPage: true });
      return file;
    }
    case "errors":
      return pageOf(req.page).errors;
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

const lines = createInterface({ input: process.stdin });
// One request at a time, in order: the test waits for each answer.
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      log("ignoring stdin line", JSON.stringify(line));
      return;
    }
    try {
      const value = await handle(req);
      process.stdout.write(JSON.stringify({ id: req.id, ok: true, value: value ?? null }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: String(err?.message ?? err) }) + "\n");
    }
  });
});
lines.on("close", () => {
  queue.finally(async () => {
    await browser.close();
    process.exit(0);
  });
});
