// Drives the patched LokiJS autosave with a fake clock and fake timers (run by
// tests/devhost/test_azurite_patches.py): prints each wait the autosave asked for and the saves.
const Loki = require(process.argv[2]);
let now = 1000000;
Date.now = () => now;
const timers = [];
global.setTimeout = (fn, ms) => {
  const t = { fn, ms, cancelled: false };
  timers.push(t);
  return t;
};
global.clearInterval = global.clearTimeout = (t) => {
  if (t) t.cancelled = true;
};
let saves = 0;
let held = null; // when set, a save's completion is held until released
const adapter = {
  saveDatabase(name, serialized, cb) {
    saves++;
    now += 300; // each save takes 300 ms of the fake clock
    if (held) held.push(cb);
    else cb(null);
  },
  loadDatabase(name, cb) { cb(null); },
};
const db = new Loki("paced.db", { adapter, autosave: true, autosaveInterval: 1000 });
const c = db.addCollection("c");
const waits = [];
const fire = () => {
  // LokiJS emits its events through 1 ms timers: run those, record the autosave's waits.
  for (;;) {
    const t = timers.shift();
    if (t.ms === 1) {
      if (!t.cancelled) t.fn();
      continue;
    }
    waits.push(t.cancelled ? "cancelled" : t.ms);
    if (!t.cancelled) t.fn();
    return;
  }
};
c.insert({ a: 1 });
fire(); // the interval: dirty, saved
c.insert({ a: 2 });
fire(); // 20 x 300 ms: dirty, saved
fire(); // 20 x 300 ms again: clean, not saved
fire(); // the interval: clean
held = [];
c.insert({ a: 3 });
fire(); // the interval: dirty, save held
db.autosaveDisable(); // disabled while the save runs
held.forEach((cb) => cb(null));
held = null;
const afterDisable = timers.filter((t) => !t.cancelled && t.ms !== 1).length;
db.autosaveEnable();
c.insert({ a: 4 });
fire(); // the interval again: dirty, saved
c.insert({ a: 5 });
db.close(); // cancels the pending wait; saves what is dirty
const pending = timers.filter((t) => !t.cancelled && t.ms !== 1).length;
console.log(JSON.stringify({ waits, saves, afterDisable, pending, dirty: db.autosaveDirty() }));
