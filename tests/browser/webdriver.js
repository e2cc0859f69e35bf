// A tiny W3C WebDriver client for chromedriver: just the commands the page tests use.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const AXE_SOURCE = readFile(fileURLToPath(new URL("node_modules/axe-core/axe.min.js", import.meta.url)), "utf8");
// Read once, on first use: a run that never asks axe-core does not fail for its absence.
AXE_SOURCE.catch(() => {});

export const KEY = { TAB: "\uE004", ENTER: "\uE007", DOWN: "\uE015", SHIFT: "\uE008" };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export class Driver {
  static async start(binary = process.env.CHROMEDRIVER || "/usr/bin/chromedriver") {
    const port = await freePort();
    const child = spawn(binary, [`--port=${port}`], { stdio: ["ignore", "ignore", "inherit"] });
    const driver = new Driver(`http://127.0.0.1:${port}`, child);
    for (let i = 0; i < 100; i++) {
      try {
        const res = await fetch(`${driver.url}/status`);
        if ((await res.json()).value?.ready) return driver;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
    throw new Error(`chromedriver did not start on port ${port}`);
  }

  constructor(url, child) {
    this.url = url;
    this.child = child;
  }

  /** A fresh Chromium with its own profile; `mobile` emulates a 390 px phone. */
  async session({ width = 1280, height = 900, mobile = false } = {}) {
    const profile = await mkdtemp(join(tmpdir(), "otp-chromium-"));
    const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`, `--window-size=${width},${height}`];
    const options = { binary: process.env.CHROMIUM_BIN || "/usr/bin/chromium", args };
    if (mobile) options.mobileEmulation = { deviceMetrics: { width, height, pixelRatio: 2, touch: true, mobile: true } };
    const res = await call(`${this.url}/session`, "POST", { capabilities: { alwaysMatch: { browserName: "chrome", "goog:chromeOptions": options } } });
    return new Session(`${this.url}/session/${res.sessionId}`, profile);
  }

  stop() {
    this.child.kill();
  }
}

async function call(url, method = "GET", body) {
  const res = await fetch(url, { method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`WebDriver ${method} ${url.replace(/.*\/session\/[^/]+/, "")}: ${json.value?.message || res.status}`);
  return json.value;
}

export class Session {
  constructor(base, profile) {
    this.base = base;
    this.profile = profile;
  }

  cmd(path, body) {
    return call(this.base + path, body === undefined ? "GET" : "POST", body);
  }

  go(url) {
    return this.cmd("/url", { url });
  }

  /** Runs `script` (a function body; `arguments` holds `args`) in the page. */
  run(script, ...args) {
    return this.cmd("/execute/sync", { script, args });
  }

  /** Like `run`, awaiting the promise the script returns. */
  runAsync(script, ...args) {
    return this.cmd("/execute/async", { script: `const done = arguments[arguments.length - 1];
      Promise.resolve((async () => { ${script} })(...Array.from(arguments).slice(0, -1))).then(done, (e) => done({ __error: String(e) }));`, args });
  }

  async find(css) {
    const found = await this.cmd("/element", { using: "css selector", value: css });
    return Object.values(found)[0]; // keyed by the W3C web element identifier
  }

  async click(css) {
    await this.cmd(`/element/${await this.find(css)}/click`, {});
  }

  /** Types on the keyboard into whatever has the focus. */
  keys(text) {
    const actions = [...text].flatMap((value) => [{ type: "keyDown", value }, { type: "keyUp", value }]);
    return this.cmd("/actions", { actions: [{ type: "key", id: "keyboard", actions }] });
  }

  /** Polls `predicate` (a page expression) until it is truthy; returns its value. */
  async waitFor(predicate, what, timeout = 15000) {
    const end = Date.now() + timeout;
    for (;;) {
      const value = await this.run(`return (${predicate});`);
      if (value) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what || predicate}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The whole page as a PNG (beyond the viewport too), as a Buffer. */
  async screenshot() {
    try {
      const metrics = await this.cmd("/goog/cdp/execute", { cmd: "Page.getLayoutMetrics", params: {} });
      const { width, height } = metrics.cssContentSize;
      const shot = await this.cmd("/goog/cdp/execute", {
        cmd: "Page.captureScreenshot",
        params: { format: "png", captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } },
      });
      return Buffer.from(shot.data, "base64");
    } catch {
      return Buffer.from(await this.cmd("/screenshot"), "base64");
    }
  }

  /** The serious and critical axe-core findings on the page as it is now, each as
   *  "rule: targets" (axe-core is loaded into the page the first time). */
  async axeViolations() {
    if (!(await this.run("return !!window.axe"))) await this.run(await AXE_SOURCE);
    return this.runAsync(`return (await axe.run(document, { resultTypes: ["violations"] })).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));`);
  }

  async quit() {
    await call(this.base, "DELETE").catch(() => {});
    await rm(this.profile, { recursive: true, force: true });
  }
}
