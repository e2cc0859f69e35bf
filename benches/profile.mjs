// CPU profile of a worker under load, through workerd's inspector (`wrangler dev
// --inspector-port`). Usage: node benches/profile.mjs <inspector port> <seconds> <out.json>
// Records a V8 CPU profile for <seconds>, saves it (open it in Chrome DevTools), and
// prints self time per function, grouped: wasm, wasm-bindgen glue, the runtime.
import { writeFileSync } from "node:fs";
import { connect } from "./inspector.mjs";

const [port, seconds, out] = process.argv.slice(2);
const { send, close } = await connect(port);

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 200 });
await send("Profiler.start");
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
const { result } = await send("Profiler.stop");
close();
const profile = result.profile;
writeFileSync(out, JSON.stringify(profile));

// Self time per node, from the samples.
const dt = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const delta = profile.timeDeltas[i + 1] ?? 0;
  dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + delta);
}
const byName = new Map();
let total = 0;
let idle = 0;
for (const node of profile.nodes) {
  const t = dt.get(node.id) ?? 0;
  const f = node.callFrame;
  if (f.functionName === "(idle)") {
    idle += t;
    continue;
  }
  total += t;
  const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() + ":" + f.lineNumber : ""}`;
  byName.set(name, (byName.get(name) ?? 0) + t);
}
const rows = [...byName.entries()].sort((a, b) => b[1] - a[1]);
const group = (name) =>
  name.includes("wasm") && !name.includes("index.js")
    ? "wasm"
    : name.includes("index.js")
      ? "wasm-bindgen glue / shim (index.js)"
      : name.startsWith("(")
        ? name.split(" ")[0]
        : "runtime / other JS";
const groups = new Map();
for (const [name, t] of rows) groups.set(group(name), (groups.get(group(name)) ?? 0) + t);
console.log(`busy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms of ${seconds} s`);
for (const [g, t] of [...groups.entries()].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${((100 * t) / total).toFixed(1).padStart(5)}%  ${g}`);
}
console.log("top functions (self time):");
for (const [name, t] of rows.slice(0, 40)) {
  console.log(`  ${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(1).padStart(7)} ms  ${name}`);
}
