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
* every request is dispatched by trying each operation of the service in turn, and each try
  compiled the operation's URI template and re-parsed the URL's query string (Express 5's
  `req.query` getter): templates are compiled once and the query parsed once per URL;
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

from devhost.azurite_texts import (
    ALL_ENTITIES,
    AUTOSAVE_EVERY,
    AUTOSAVE_PACED,
    FIND_ENTITY,
    FIRST,
    FIRST_BY_VISIBILITY,
    GET_QUERY,
    GET_QUERY_ONCE,
    HEADER,
    PINNED,
    QUERY_TIME,
    SOONEST_EXPIRY,
    SORTED,
    TEMPLATE,
    TEMPLATE_ONCE,
    UTILS,
)

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


_E = " " * 12
_EE = " " * 16
_T = "tableEntityCollection"
PATCHES = (
    Patch(TABLE, HEADER, HEADER + FIND_ENTITY, count=1),
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
    Patch(QUEUE, SORTED, FIRST, count=2),
    Patch(QUEUE, HEADER, HEADER + FIRST_BY_VISIBILITY, count=1),
    Patch(
        QUEUE,
        "        coll.update(docs);\n",
        "        for (const doc of docs) {\n            coll.update(doc);\n        }\n",
        count=1,
    ),
    Patch(LOKI, AUTOSAVE_EVERY, AUTOSAVE_PACED, count=1, package="lokijs"),
    Patch(QUEUE, UTILS, UTILS + SOONEST_EXPIRY, count=1),
    Patch(TABLE, UTILS, UTILS + PINNED, count=1),
    Patch(
        TABLE,
        ALL_ENTITIES,
        "        const result = entitiesFor(tableEntityCollection, queryOptions.filter)\n"
        "            .where(queryWhere)\n",
        count=1,
    ),
    Patch(
        QUEUE,
        QUERY_TIME,
        QUERY_TIME
        + "        if (!mayHaveExpired(coll, account, queue, queryTime)) {\n"
        + "            return;\n"
        + "        }\n",
        count=1,
    ),
    *(
        Patch(f"dist/src/{service}/generated/{file}", old, new, count=1)
        for service in ("blob", "queue", "table")
        for file, old, new in (
            ("ExpressRequestAdapter.js", GET_QUERY, GET_QUERY_ONCE),
            ("utils/utils.js", TEMPLATE, TEMPLATE_ONCE),
        )
    ),
)


class PatchError(Exception):
    """The installed Azurite is not the version these patches were written for."""


def _named(package: str) -> str:
    return "Azurite" if package == "azurite" else package


def state(root: Path = ROOT) -> str:
    """ "patched", "original" or "absent" (no Azurite installed); PatchError for anything else."""
    if not (root / AZURITE / "package.json").exists():
        return "absent"
    for package, wanted in VERSIONS.items():
        manifest = root / NODE_MODULES / package / "package.json"
        version = json.loads(manifest.read_text())["version"] if manifest.exists() else "none"
        if version != wanted:
            raise PatchError(f"{_named(package)} {version} installed, the patches are for {wanted}")
    found = set()
    for p in PATCHES:
        text = (root / p.path).read_text()
        if text.count(p.new) >= p.count:  # first: a patch may keep its original text (a header)
            found.add("patched")
        elif any(text.count(old) == p.count for old in (p.old, *p.superseded)):
            found.add("original")
        else:
            raise PatchError(
                f"{p.path} is neither {_named(p.package)} {VERSIONS[p.package]}'s nor patched"
            )
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


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """scripts/bootstrap.sh's step: exit 2 and one line when the install is not one the
    patches are for, so a fresh install stops there instead of running an unpatched Azurite."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="print the state, change nothing")
    args = parser.parse_args(argv)
    root = root or ROOT
    try:
        if args.check:
            print(state(root))
            return 0
        applied = apply(root)
    except PatchError as exc:
        print(f"azurite_patches: {exc}", file=sys.stderr)
        return 2
    if applied:
        print(f"azurite_patches: {applied} performance patches applied to Azurite {VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
