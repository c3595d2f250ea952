"""Performance fixes to Azurite 3.37.0's in-memory stores, applied after `npm ci`.

Azurite answers every request right, but some of its look-ups cost time in the size of the whole
account rather than of what they look up (measured in docs/performance.md, "Round two"):

* its table store finds an entity by `{RowKey, PartitionKey}`, so LokiJS narrows by the RowKey
  index first and then scans every entity with that RowKey. DurableTask's layout repeats RowKeys
  across instances (`""` for every Instances row, `sentinel` and `0000000000000000`... in
  History), so each insert, merge, update, delete and point read scanned the whole hub; narrowed
  by PartitionKey instead, each upsert of a big history scanned the partition (10,000 rows for a
  5,000-wide fan-out). A map per table from (PartitionKey, RowKey) to the entity, kept by the
  collection's own insert, update and delete events, finds it without a scan;
* its queue store's `clearExpiredMessages`, run before every Get, Peek, Delete and Update
  Message, scans the queue for expired messages and calls LokiJS `remove([])` when none
  expired, and a batch remove rebuilds every binary index of the account's message collection
  (four sorts of every message): the sweep is skipped while the queue's soonest expiry (noted on
  every insert and update) is later than now, and nothing is removed when nothing expired;
* its entity queries run every entity of the table through the filter, even when the filter
  names the partition (DurableTask's history reads and purges): such a query now starts from
  the partition's entities (the PartitionKey index), the filter and the sort unchanged;
* its queue queries narrow by account before queue, so each request looks at every message of
  every queue;
* Get Messages updates the messages it hands out as one LokiJS batch, which rebuilds every index
  of the message collection (one update per message keeps them up to date in place);
* its Get and Peek Messages sort every visible message of the queue to return the first 32 (or
  1): a one-pass selection returns the same messages in the same order;
* LokiJS (the store under all three services) re-serialises the whole database every 5 s while
  it changes, which at a 20,000-instance hub took over half of Azurite's CPU: each save is now
  followed by a wait of 20 times its own duration (at least the 5 s), so saving stays near 5% of
  a core. Stopping Azurite still saves everything; a killed Azurite loses up to that wait.

Each look-up fix keeps every answer as it was (the same entity or message found another way;
nothing removed when nothing expired; the same first n messages) and changes only the work, as
Azure Storage's own indexes would. scripts/bootstrap.sh applies them after `npm ci` (`python -m
devhost.azurite_patches`); a file whose text is neither the original nor the patched one
(another Azurite version) stops the install with one line. `devhost start --with-azurite`
says whether they are applied when it starts Azurite.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = Path("node_modules")
AZURITE = NODE_MODULES / "azurite"
VERSION = "3.37.0"
# The packages patched, each at the version Azurite 3.37.0's package-lock installs.
VERSIONS = {"azurite": VERSION, "lokijs": "1.5.12"}
TABLE = "dist/src/table/persistence/LokiTableMetadataStore.js"
QUEUE = "dist/src/queue/persistence/LokiQueueMetadataStore.js"
LOKI = "src/lokijs.js"


@dataclass(frozen=True)
class Patch:
    file: str
    old: str
    new: str
    count: int  # how many times `old` occurs in the original
    package: str = "azurite"
    # Texts an earlier devhost's patch left in place of `old`: an install patched by it is
    # brought up to date instead of refused.
    superseded: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """Relative to the checkout."""
        return NODE_MODULES / self.package / self.file


def _find_entity(coll: str, pk: str, rk: str, indent: str, count: int = 1) -> Patch:
    old = f"{coll}.findOne({{\n{indent}RowKey: {rk},\n{indent}PartitionKey: {pk}\n{indent[4:]}}})"
    # the first version of this fix only swapped the two keys
    swapped = (
        f"{coll}.findOne({{\n{indent}PartitionKey: {pk},\n{indent}RowKey: {rk}\n{indent[4:]}}})"
    )
    new = f"findEntity({coll}, {pk}, {rk})"
    return Patch(TABLE, old, new, count=count, superseded=(swapped,))


# Entities by key: LokiJS's findOne narrows by one binary index and scans the rest, which grows
# with the whole hub (by RowKey: DurableTask repeats them across instances) or with the partition
# (by PartitionKey: a 5,000-wide fan-out's history holds 10,000 rows, each upsert scanned them).
_FIND_ENTITY = """\
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
_SORTED = """        const docs = coll
            .chain()
            .find(query)
            .compoundsort([
            ["timeNextVisible", false],
            ["$loki", false]
        ])
            .limit(numOfMessages)
            .data();
"""
_FIRST = """        const docs = firstByVisibility(coll.chain().find(query).data(), numOfMessages);
"""
_HEADER = """"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
"""
_FIRST_BY_VISIBILITY = """// devhost/azurite_patches.py: the first n by (timeNextVisible, $loki),
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
_AUTOSAVE_EVERY = (
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
_AUTOSAVE_PACED = """\
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
_UTILS = 'const utils_1 = require("../../common/utils/utils");\n'
_SOONEST_EXPIRY = """\
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
_QUERY_TIME = "        const queryTime = new Date().getTime();\n"
# An entity query scans the whole table through the filter, even when the filter names the
# partition (DurableTask's history reads and purges): a 20,000-instance hub's purge of 5,000
# took 226 s. Such a query now starts from the partition (the PartitionKey index); the parsed
# filter still decides which entities match and the sort still orders them.
_PINNED = """\
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
_ALL_ENTITIES = (
    "        const result = tableEntityCollection\n"
    "            .chain()\n"
    "            .where(queryWhere)\n"
)
_E = " " * 12
_EE = " " * 16
_T = "tableEntityCollection"
PATCHES = (
    Patch(TABLE, _HEADER, _HEADER + _FIND_ENTITY, count=1),
    _find_entity(_T, "entity.PartitionKey", "entity.RowKey", _E, count=3),
    _find_entity(_T, "partitionKey", "rowKey", _EE),
    _find_entity("entityCollection", "partitionKey", "rowKey", _E),
    _find_entity("tableBatchCollection", "entity.PartitionKey", "entity.RowKey", _EE),
    Patch(
        QUEUE,
        "            .data();\n        coll.remove(docs);\n",
        "            .data();\n        if (docs.length > 0) {\n            coll.remove(docs);\n"
        "        }\n",
        count=1,
    ),
    Patch(
        QUEUE,
        "            accountName: account,\n            queueName: queue,\n",
        "            queueName: queue,\n            accountName: account,\n",
        count=3,
    ),
    Patch(QUEUE, _SORTED, _FIRST, count=2),
    Patch(QUEUE, _HEADER, _HEADER + _FIRST_BY_VISIBILITY, count=1),
    Patch(
        QUEUE,
        "        coll.update(docs);\n",
        "        for (const doc of docs) {\n            coll.update(doc);\n        }\n",
        count=1,
    ),
    Patch(LOKI, _AUTOSAVE_EVERY, _AUTOSAVE_PACED, count=1, package="lokijs"),
    Patch(QUEUE, _UTILS, _UTILS + _SOONEST_EXPIRY, count=1),
    Patch(TABLE, _UTILS, _UTILS + _PINNED, count=1),
    Patch(
        TABLE,
        _ALL_ENTITIES,
        "        const result = entitiesFor(tableEntityCollection, queryOptions.filter)\n"
        "            .where(queryWhere)\n",
        count=1,
    ),
    Patch(
        QUEUE,
        _QUERY_TIME,
        _QUERY_TIME
        + "        if (!mayHaveExpired(coll, account, queue, queryTime)) {\n"
        + "            return;\n"
        + "        }\n",
        count=1,
    ),
)


class PatchError(Exception):
    """The installed Azurite is not the version these patches were written for."""


def state(root: Path = ROOT) -> str:
    """ "patched", "original" or "absent" (no Azurite installed); PatchError for anything else."""
    if not (root / AZURITE / "package.json").exists():
        return "absent"
    for package, wanted in VERSIONS.items():
        manifest = root / NODE_MODULES / package / "package.json"
        version = json.loads(manifest.read_text())["version"] if manifest.exists() else "none"
        if version != wanted:
            name = "Azurite" if package == "azurite" else package
            raise PatchError(f"{name} {version} installed, the patches are for {wanted}")
    found = set()
    for p in PATCHES:
        text = (root / p.path).read_text()
        if text.count(p.new) >= p.count:  # first: a patch may keep its original text (a header)
            found.add("patched")
        elif any(text.count(old) == p.count for old in (p.old, *p.superseded)):
            found.add("original")
        else:
            name = "Azurite" if p.package == "azurite" else p.package
            raise PatchError(f"{p.path} is neither {name} {VERSIONS[p.package]}'s nor patched")
    return found.pop() if len(found) == 1 else "partly patched"


def apply(root: Path = ROOT) -> int:
    """Patch the installed Azurite in place; the number of patches applied (0 if already)."""
    if state(root) in ("absent", "patched"):
        return 0
    applied = 0
    for p in PATCHES:
        path = root / p.path
        text = path.read_text()
        if text.count(p.new) >= p.count:
            continue
        for old in (p.old, *p.superseded):
            if text.count(old) == p.count:
                path.write_text(text.replace(old, p.new))
                applied += 1
                break
    return applied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="print the state, change nothing")
    args = parser.parse_args()
    try:
        if args.check:
            print(state())
            return 0
        applied = apply()
    except PatchError as exc:
        print(f"azurite_patches: {exc}", file=sys.stderr)
        return 2
    if applied:
        print(f"azurite_patches: {applied} performance patches applied to Azurite {VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
