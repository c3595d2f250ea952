// The dispatch patches (devhost/azurite_texts.py GET_QUERY_ONCE, TEMPLATE_ONCE), run by node:
// every operation template of each service, compiled once, matches every path exactly as the
// original per-call compile does; the request adapter parses a URL's query once and again
// when the URL changes. Usage: node dispatch_once.js <patched node_modules> <original node_modules>
"use strict";
const [patched, original] = process.argv.slice(2);
const paths = [
  "/", "/devstoreaccount1", "/c", "/c/", "/c/b", "/c/b/x y", "/c/a/b/c.png", "//x", "/$logs",
  "/q/messages", "/q/messages/id-1", "/Tables", "/Tables('T')", "/$batch",
  "/T(PartitionKey='a',RowKey='')", "/T()", "/T", "/c/b?comp=lease",
];
const out = { compared: 0, differ: [], parses: [] };
for (const service of ["blob", "queue", "table"]) {
  const base = `azurite/dist/src/${service}/generated`;
  const mine = require(`${patched}/${base}/utils/utils.js`);
  const theirs = require(`${original}/${base}/utils/utils.js`);
  const specs = require(`${patched}/${base}/artifacts/specifications.js`).default;
  for (const spec of Object.values(specs)) {
    const template = spec.path ? (spec.path.startsWith("/") ? spec.path : `/${spec.path}`) : "/";
    for (const round of [1, 2]) {  // the second round runs on the cached template
      for (const path of paths) {
        out.compared += 1;
        if (mine.isURITemplateMatch(path, template) !== theirs.isURITemplateMatch(path, template)) {
          out.differ.push([service, template, path, round]);
        }
      }
    }
  }
  const Adapter = require(`${patched}/${base}/ExpressRequestAdapter.js`).default;
  let parses = 0;
  const req = {
    url: "/c/b?comp=lease&restype=x&sig=a%2Bb",
    get query() {
      parses += 1;
      return Object.fromEntries(new URLSearchParams(this.url.split("?")[1] || ""));
    },
  };
  const adapter = new Adapter(req);
  const first = [adapter.getQuery("comp"), adapter.getQuery("restype"), adapter.getQuery("sig"),
    adapter.getQuery("missing")];
  req.url = "/c/b?comp=metadata";
  const second = [adapter.getQuery("comp"), adapter.getQuery("restype")];
  out.parses.push({ service, first, second, parses });
}
process.stdout.write(JSON.stringify(out));
