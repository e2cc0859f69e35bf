// Turns off the devtools domains that `wrangler dev` keeps on in workerd, through its
// inspector proxy: Runtime (every console.log is also serialized to the proxy) and
// Network (every subrequest is reported). The edge does neither, and locally they
// cost CPU per log line and per round trip. Logs still reach wrangler's output.
// Usage: node benches/devtools-off.mjs <inspector port>
import { connect } from "./inspector.mjs";

const [port] = process.argv.slice(2);
const { send, close } = await connect(port);
for (const method of ["Runtime.disable", "Network.disable"]) {
  const answer = await send(method);
  if (answer.error) {
    console.error(`${method}: ${JSON.stringify(answer.error)}`);
    process.exit(1);
  }
}
close();
