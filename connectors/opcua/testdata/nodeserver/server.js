// A node-opcua test server for the Sluice OPC UA connector tests and
// benchmark. It is started by the Go tests as
//
//	node server.js '<json options>'
//
// with NODE_PATH pointing at the node_modules where `make deps` installed
// node-opcua-server. It prints one JSON line {"ready":true,...} on stdout
// once it listens, then answers JSON commands, one a line, on stdin:
//
//	{"cmd":"set","node":"Boiler.Level","value":5,"status":"BadSensorFailure"}
//	{"cmd":"stats"}        -> {"produced":N}   (bench value changes made)
//
// Options: port, pki (folder of the server's own certificate and trust
// lists), policies and modes (names), users ({name: password}),
// anonymous (bool), tickMs (the plant variables' timer), bench ({count,
// intervalMs}: variables Objects/Bench/v0000... all changed every
// intervalMs).
"use strict";
const { OPCUAServer } = require("node-opcua-server");
const { Variant, DataType } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");
const { SecurityPolicy, MessageSecurityMode } = require("node-opcua-secure-channel");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const readline = require("readline");

const opts = JSON.parse(process.argv[2] || "{}");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

(async () => {
  const certificateManager = new OPCUACertificateManager({
    rootFolder: opts.pki,
    automaticallyAcceptUnknownCertificate: true,
  });
  // User certificates (X509 identity tokens) are accepted when their
  // signature proves possession of the key.
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: opts.pki + "-users",
    automaticallyAcceptUnknownCertificate: true,
  });
  const users = opts.users || {};
  const server = new OPCUAServer({
    port: opts.port,
    hostname: "localhost",
    resourcePath: "/sluice",
    serverCertificateManager: certificateManager,
    userCertificateManager,
    securityPolicies: (opts.policies || ["None"]).map((p) => SecurityPolicy[p]),
    securityModes: (opts.modes || ["None"]).map((m) => MessageSecurityMode[m]),
    allowAnonymous: opts.anonymous !== false,
    userManager: { isValidUser: (u, p) => Object.prototype.hasOwnProperty.call(users, u) && users[u] === p },
    maxConnectionsPerEndpoint: 100,
    serverCapabilities: { maxSessions: 100, maxSubscriptions: 1000, maxMonitoredItems: 100000 },
  });
  await server.initialize();

  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.getOwnNamespace();
  const objects = addressSpace.rootFolder.objects;
  const vars = {}; // by string id
  const folders = new Set();
  const folder = (parent, name) => {
    const f = ns.addFolder(parent, { browseName: name });
    folders.add(f);
    return f;
  };
  const variable = (parent, id, name, dataType, value, nodeId) => {
    const v = ns.addVariable({
      componentOf: folders.has(parent) ? undefined : parent,
      organizedBy: folders.has(parent) ? parent : undefined,
      browseName: name,
      nodeId: nodeId || "s=" + id,
      dataType,
      minimumSamplingInterval: 0,
      value: new Variant({ dataType: DataType[dataType], value }),
    });
    vars[id] = v;
    return v;
  };

  const plant = folder(objects, "Plant");
  const boiler = ns.addObject({ organizedBy: plant, browseName: "Boiler" });
  variable(boiler, "Boiler.Temp", "Temp", "Double", 20);
  variable(boiler, "Boiler.Level", "Level", "Double", 0);
  variable(boiler, "Boiler.Running", "Running", "Boolean", false);
  variable(boiler, "Boiler.State", "State", "String", "idle");
  variable(boiler, "Boiler.Counter", "Counter", "Int32", 0);
  variable(boiler, "Boiler.Status", "Status", "Double", 0);
  vars["Boiler.Pressure"] = ns.addAnalogDataItem({
    componentOf: boiler,
    browseName: "Pressure",
    nodeId: "s=Boiler.Pressure",
    dataType: "Double",
    minimumSamplingInterval: 0,
    engineeringUnitsRange: { low: 0, high: 200 },
    value: new Variant({ dataType: DataType.Double, value: 0 }),
  });
  const line = folder(plant, "Line");
  variable(line, "Line.Speed", "Speed", "Double", 1);
  const deep = folder(folder(line, "Sub"), "Deep");
  variable(deep, "Line.Sub.Deep.Var", "Var", "Double", 3);
  const ids = folder(plant, "Ids");
  variable(ids, "Ids.Numeric", "Numeric", "Int32", 7, "i=5001");
  variable(ids, "Ids.Guid", "Guid", "Int32", 8, "g=72962B91-FA75-4AE6-8D28-B404DC7DAF63");
  variable(ids, "Ids.Opaque", "Opaque", "Int32", 9, "b=c2x1aWNl");

  let tick = 0;
  setInterval(() => {
    tick++;
    const now = new Date();
    vars["Boiler.Temp"].setValueFromSource({ dataType: DataType.Double, value: 20 + tick / 10 }, StatusCodes.Good, now);
    vars["Boiler.Counter"].setValueFromSource({ dataType: DataType.Int32, value: tick }, StatusCodes.Good, now);
    vars["Boiler.Running"].setValueFromSource({ dataType: DataType.Boolean, value: tick % 2 === 1 }, StatusCodes.Good, now);
    vars["Boiler.State"].setValueFromSource({ dataType: DataType.String, value: "state" + tick }, StatusCodes.Good, now);
    vars["Line.Speed"].setValueFromSource({ dataType: DataType.Double, value: tick }, StatusCodes.Good, now);
  }, opts.tickMs || 100);

  let produced = 0;
  if (opts.bench && opts.bench.count > 0) {
    const bench = folder(objects, "Bench");
    const bv = [];
    for (let i = 0; i < opts.bench.count; i++) {
      const name = "v" + String(i).padStart(4, "0");
      bv.push(variable(bench, "Bench." + name, name, "Double", 0));
    }
    // Rounds are scheduled against the clock, not chained: a late round
    // does not push the next ones back, so the rate holds while the
    // process has CPU to spare.
    const period = opts.bench.intervalMs || 100;
    const t0 = Date.now();
    let round = 0;
    const tick = () => {
      round++;
      const now = new Date();
      for (let i = 0; i < bv.length; i++) {
        bv[i].setValueFromSource({ dataType: DataType.Double, value: round * 10000 + i }, StatusCodes.Good, now);
      }
      produced += bv.length;
      setTimeout(tick, Math.max(0, t0 + (round + 1) * period - Date.now()));
    };
    setTimeout(tick, period);
  }

  await server.start();
  out({
    ready: true,
    endpoint: server.getEndpointUrl(),
    certificate: server.certificateFile,
    namespace: ns.index,
    namespaceUri: ns.namespaceUri,
  });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (l) => {
    let c;
    try {
      c = JSON.parse(l);
    } catch (e) {
      out({ error: "bad json: " + e.message });
      return;
    }
    try {
      switch (c.cmd) {
        case "set": {
          const v = vars[c.node];
          if (!v) throw new Error("unknown node " + c.node);
          const dt = v.dataTypeObj.browseName.name;
          const status = c.status ? StatusCodes[c.status] : StatusCodes.Good;
          if (!status) throw new Error("unknown status " + c.status);
          const value = c.value === null ? new Variant({ dataType: DataType.Null }) : new Variant({ dataType: DataType[dt], value: c.value });
          v.setValueFromSource(value, status, c.time ? new Date(c.time) : new Date());
          out({ ok: true });
          break;
        }
        case "stats":
          out({ produced });
          break;
        default:
          throw new Error("unknown command " + c.cmd);
      }
    } catch (e) {
      out({ error: e.message });
    }
  });
  rl.on("close", async () => {
    await server.shutdown(0);
    process.exit(0);
  });
  process.on("SIGTERM", async () => {
    await server.shutdown(0);
    process.exit(0);
  });
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(1);
});
