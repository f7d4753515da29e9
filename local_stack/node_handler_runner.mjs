// Runs a Node.js Lambda handler as the Lambda runtime calls it: the module is imported
// once (its cold init), then each {"id": n, "op": "invoke", "event": ...} line on stdin
// calls handler(event, context) and is answered with one stdout line,
// {"driverReply": n, "result": ...} or {"driverReply": n, "error": {...}}, after whatever
// the handler printed ({"op": "ready"} is answered once the import is done).
// context.getRemainingTimeInMillis() counts down from the timeout
// (seconds, the third argument). Each reply also carries the invocation's CPU seconds.
//
//   node node_handler_runner.mjs <module path> <export name> <timeout seconds>
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const [modulePath, exportName, timeoutSeconds] = process.argv.slice(2);
let handler;
let initError;
try {
  handler = (await import(pathToFileURL(modulePath).href))[exportName];
  if (typeof handler !== "function") throw new TypeError(`${modulePath} exports no function ${exportName}`);
} catch (error) {
  initError = error;
}

function failure(error) {
  return { error: { name: error?.name ?? typeof error, message: String(error?.message ?? error) } };
}

let chain = Promise.resolve();
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const command = JSON.parse(line);
    chain = chain.then(async () => {
      if (command.op === "ready") {
        // Answered once the module's init is over: the process is warm.
        process.stdout.write(JSON.stringify({ driverReply: command.id }) + "\n");
        return;
      }
      let reply;
      const cpuBefore = process.cpuUsage();
      if (initError !== undefined) {
        reply = failure(initError);
      } else {
        const deadline = Date.now() + Number(timeoutSeconds) * 1000;
        const context = { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
        try {
          reply = { result: await handler(command.event, context) };
        } catch (error) {
          reply = failure(error);
        }
      }
      const cpu = process.cpuUsage(cpuBefore);
      reply.cpuSeconds = (cpu.user + cpu.system) / 1e6;
      process.stdout.write(JSON.stringify({ driverReply: command.id, ...reply }) + "\n");
    });
  })
  .on("close", () => chain.then(() => process.exit(0)));
