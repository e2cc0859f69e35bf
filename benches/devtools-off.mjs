// Turns off the devtools domains that `wrangler dev` keeps on in workerd, through its
// inspector proxy: Runtime (every console.log is also serialized to the proxy) and
// Network (every subrequest is reported). The edge does neither, and locally they
// cost CPU per log line and per round trip. Logs still reach wrangler's output.
// Usage: node benches/devtools-off.mjs <inspector port>
import WebSocket from "ws";

const [port] = process.argv.slice(2);
const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
let id = 0;
const pending = new Map();
ws.on("message", (data) => {
  const msg = JSON.parse(data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const send = (method) =>
  new Promise((resolve) => {
    id += 1;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method }));
  });
for (const method of ["Runtime.disable", "Network.disable"]) {
  const answer = await send(method);
  if (answer.error) {
    console.error(`${method}: ${JSON.stringify(answer.error)}`);
    process.exit(1);
  }
}
ws.close();
