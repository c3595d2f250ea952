"""The JavaScript of devhost/azurite_patches.py: each patch's original text in Azurite 3.37.0
(or LokiJS 1.5.12) and what replaces it, with why beside each. Kept apart from the patcher so
the one reads as the list of fixes and the other as the code they insert."""

from __future__ import annotations

# Entities by key: LokiJS's findOne narrows by one binary index and scans the rest, which grows
# with the whole hub (by RowKey: DurableTask repeats them across instances) or with the partition
# (by PartitionKey: a 5,000-wide fan-out's history holds 10,000 rows, each upsert scanned them).
FIND_ENTITY = """\
// devhost/azurite_patches.py: an entity by (PartitionKey, RowKey) from a map per collection,
// built from its data on first use and kept in step by the collection's own insert, update and
// delete events, as findOne({PartitionKey, RowKey}) would find it, without scanning.
const entityMaps = new WeakMap();
function entityMap(coll) {
    let map = entityMaps.get(coll);
    if (map !== undefined) {
        return map;
    }
    map = new Map();
    const put = (doc) => {
        let rows = map.get(doc.PartitionKey);
        if (rows === undefined) {
            rows = new Map();
            map.set(doc.PartitionKey, rows);
        }
        rows.set(doc.RowKey, doc);
    };
    const drop = (doc) => {
        const rows = map.get(doc.PartitionKey);
        if (rows !== undefined && rows.get(doc.RowKey) === doc) {
            rows.delete(doc.RowKey);
            if (rows.size === 0) {
                map.delete(doc.PartitionKey);
            }
        }
    };
    for (const doc of coll.data) {
        put(doc);
    }
    coll.on("insert", (docs) => (Array.isArray(docs) ? docs.forEach(put) : put(docs)));
    coll.on("update", (doc, old) => {
        if (old) {
            drop(old);
        }
        put(doc);
    });
    coll.on("delete", drop);
    entityMaps.set(coll, map);
    return map;
}
function findEntity(coll, partitionKey, rowKey) {
    const rows = entityMap(coll).get(partitionKey);
    const doc = rows === undefined ? undefined : rows.get(rowKey);
    return doc === undefined ? null : doc;
}
"""


# Get and Peek Messages sorted every visible message of the queue to return the first 32 (or 1):
# O(M log M) per receive, so a 5,000-wide fan-out's work-item queue cost seconds per message.
SORTED = """        const docs = coll
            .chain()
            .find(query)
            .compoundsort([
            ["timeNextVisible", false],
            ["$loki", false]
        ])
            .limit(numOfMessages)
            .data();
"""
FIRST = """        const docs = firstByVisibility(coll.chain().find(query).data(), numOfMessages);
"""
HEADER = """"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
"""
FIRST_BY_VISIBILITY = """// devhost/azurite_patches.py: the first n by (timeNextVisible, $loki),
// as compoundsort + limit returned them, in one pass instead of a sort.
function firstByVisibility(docs, n) {
    const before = (a, b) => a.timeNextVisible < b.timeNextVisible ||
        (a.timeNextVisible === b.timeNextVisible && a.$loki < b.$loki);
    const top = [];
    for (const doc of docs) {
        if (top.length === n && !before(doc, top[n - 1])) {
            continue;
        }
        let i = top.length;
        while (i > 0 && before(doc, top[i - 1])) {
            i--;
        }
        top.splice(i, 0, doc);
        if (top.length > n) {
            top.pop();
        }
    }
    return top;
}
"""
# LokiJS's autosave re-serialises the whole database every 5 s while it changes; with a
# 20,000-instance task hub that took over half of Azurite's CPU (docs/performance.md). Each save
# is now followed by a wait of at least 20 times its own duration, never less than the interval,
# so saving costs at most ~5% of a core however big the database grows. Azurite's close still
# saves what is dirty (Loki.close), so only a killed Azurite loses more than before.
AUTOSAVE_EVERY = (
    "      this.autosaveHandle = setInterval(function autosaveHandleInterval() {\n"
    "        // use of dirty flag will need to be hierarchical since mods are done at collection"
    " level with no visibility of 'db'\n"
    "        // so next step will be to implement collection level dirty flags set on"
    " insert/update/remove\n"
    "        // along with loki level isdirty() function which iterates all collections to see"
    " if any are dirty\n"
    "\n"
    "        if (self.autosaveDirty() && !self.ignoreAutosave) {\n"
    "          self.saveDatabase(callback);\n"
    "        }\n"
    "      }, delay);\n"
)
AUTOSAVE_PACED = """\
      // devhost/azurite_patches.py: after each save wait at least 20 times its duration
      // (never less than the interval): re-serialising a growing database stays near 5% of a core.
      var generation = self.autosaveGeneration = (self.autosaveGeneration || 0) + 1;
      var live = function () {
        return self.autosaveGeneration === generation && self.autosaveHandle !== null;
      };
      var paced = function autosaveHandleInterval() {
        if (!live()) return;
        if (self.autosaveDirty() && !self.ignoreAutosave) {
          var started = Date.now();
          self.saveDatabase(function (err) {
            if (live()) {
              self.autosaveHandle = setTimeout(paced, Math.max(delay, 20 * (Date.now() - started)));
            }
            if (callback) callback(err);
          });
        } else {
          self.autosaveHandle = setTimeout(paced, delay);
        }
      };
      this.autosaveHandle = setTimeout(paced, delay);
"""
# Every Get, Peek, Delete and Update Message first looks for expired messages of its queue, a
# scan of the queue (a 5,000-wide fan-out's work items: a third of Azurite's CPU). The soonest
# expiry per queue, noted on every insert and update, says when nothing can have expired.
UTILS = 'const utils_1 = require("../../common/utils/utils");\n'
SOONEST_EXPIRY = """\
// devhost/azurite_patches.py: per queue, an expirationTime no message's is below (LokiJS's own
// order), noted on the collection's insert and update events; while it is later than the
// query time no message can have expired and clearExpiredMessages has nothing to remove.
const soonestExpiries = new WeakMap();
function noteExpiry(map, doc) {
    const key = JSON.stringify([doc.accountName, doc.queueName]);
    const soonest = map.get(key);
    if (soonest === undefined || lokijs_1.default.LokiOps.$lt(doc.expirationTime, soonest)) {
        map.set(key, doc.expirationTime);
    }
}
function mayHaveExpired(coll, account, queue, queryTime) {
    let map = soonestExpiries.get(coll);
    if (map === undefined) {
        const built = new Map();
        for (const doc of coll.data) {
            noteExpiry(built, doc);
        }
        const note = (doc) => noteExpiry(built, doc);
        coll.on("insert", (docs) => (Array.isArray(docs) ? docs.forEach(note) : note(docs)));
        coll.on("update", note);
        soonestExpiries.set(coll, built);
        map = built;
    }
    const key = JSON.stringify([account, queue]);
    const soonest = map.get(key);
    if (soonest === undefined || !lokijs_1.default.LokiOps.$lte(soonest, queryTime)) {
        return false;
    }
    // Some may have: the caller removes them. Note the soonest of the rest.
    map.delete(key);
    for (const doc of coll.chain().find({ queueName: queue, accountName: account }).data()) {
        if (!lokijs_1.default.LokiOps.$lte(doc.expirationTime, queryTime)) {
            noteExpiry(map, doc);
        }
    }
    return true;
}
"""
QUERY_TIME = "        const queryTime = new Date().getTime();\n"
# An entity query scans the whole table through the filter, even when the filter names the
# partition (DurableTask's history reads and purges): a 20,000-instance hub's purge of 5,000
# took 226 s. Such a query now starts from the partition (the PartitionKey index); the parsed
# filter still decides which entities match and the sort still orders them.
PINNED = """\
// devhost/azurite_patches.py: a query whose filter pins the partition (`PartitionKey eq` a
// string, alone or under `and`, which EqualsNode evaluates with ===) starts from that
// partition's entities instead of every entity of the table; the filter and sort stay.
const parseQuery_devhost = require("./QueryInterpreter/QueryParser").default;
const queryNode_devhost = (name) => require(`./QueryInterpreter/QueryNodes/${name}`).default;
const AndNode_devhost = queryNode_devhost("AndNode");
const EqualsNode_devhost = queryNode_devhost("EqualsNode");
const IdentifierNode_devhost = queryNode_devhost("IdentifierNode");
const ConstantNode_devhost = queryNode_devhost("ConstantNode");
function pinnedPartition(node) {
    if (node instanceof AndNode_devhost) {
        const left = pinnedPartition(node.left);
        return left !== undefined ? left : pinnedPartition(node.right);
    }
    if (node instanceof EqualsNode_devhost) {
        for (const [id, value] of [[node.left, node.right], [node.right, node.left]]) {
            if (id instanceof IdentifierNode_devhost && id.identifier === "PartitionKey" &&
                value instanceof ConstantNode_devhost && typeof value.value === "string") {
                return value.value;
            }
        }
    }
    return undefined;
}
function entitiesFor(coll, filter) {
    let pinned;
    try {
        pinned = filter ? pinnedPartition(parseQuery_devhost(filter)) : undefined;
    }
    catch (e) {
        pinned = undefined;
    }
    return pinned === undefined ? coll.chain() : coll.chain().find({ PartitionKey: pinned });
}
"""
ALL_ENTITIES = (
    "        const result = tableEntityCollection\n"
    "            .chain()\n"
    "            .where(queryWhere)\n"
)

# dist/src/{blob,queue,table}/generated/ExpressRequestAdapter.js: Express 5's `req.query` is a
# getter that parses the URL's query string on every read, and the dispatch middleware reads
# each operation's required parameters in turn (~50 operations per request). Parsed once per
# URL instead (the same object Express would return for it).
GET_QUERY = "    getQuery(key) {\n        const queryValue = this.req.query[key];\n"
GET_QUERY_ONCE = (
    "    getQuery(key) {\n"
    "        if (this.queryUrl !== this.req.url) {\n"
    "            this.queryUrl = this.req.url;\n"
    "            this.parsedQuery = this.req.query;\n"
    "        }\n"
    "        const queryValue = this.parsedQuery[key];\n"
)

# dist/src/{blob,queue,table}/generated/utils/utils.js: the dispatch middleware compiles each
# operation's URI template for every request; a compiled uri-templates object holds no state
# between calls (fromUri builds its result locally), so each template is compiled once.
TEMPLATE = (
    "function isURITemplateMatch(url, template) {\n"
    "    const uriTemplate = (0, uri_templates_1.default)(template);\n"
)
TEMPLATE_ONCE = (
    "const compiledTemplates = new Map();\n"
    "function isURITemplateMatch(url, template) {\n"
    "    let uriTemplate = compiledTemplates.get(template);\n"
    "    if (uriTemplate === undefined) {\n"
    "        uriTemplate = (0, uri_templates_1.default)(template);\n"
    "        compiledTemplates.set(template, uriTemplate);\n"
    "    }\n"
)
