// The SQLite schema. docs/schema.md documents every table and view; keep the two in step.
// Units are in column names (_ns, _bytes). 64-bit addresses are stored as signed INTEGER (two's complement of the
// unsigned value, so kernel-half addresses are negative); the *_hex view columns print them unsigned.
import {FIELD_NAMES, KIND_NAMES, Kind} from '../model/events.js'

export const SCHEMA_VERSION = 8

/**
 * Kinds a trace has few of, that queries look up by literal kind (exec, mmap2, ...). The index covers only them:
 * indexing every event cost ingest a second B-tree insert per row (~40 % of its time), and the bulk readers
 * (replay, validate) select common kinds in event order, where a scan of the table beats the index plus a sort.
 * A query uses this partial index when its WHERE has `kind = <one of these literals>`, not a bound `kind = ?`.
 */
const RARE_KINDS = [
  Kind.UnmappedArea,
  Kind.ExitMmap,
  Kind.Fork,
  Kind.Exec,
  Kind.Exit,
  Kind.NewTask,
  Kind.Mmap2,
  Kind.Comm,
  Kind.Marker,
]
const RARE_KINDS_INDEX = `CREATE INDEX events_rare ON events(trace_id, kind) WHERE ${RARE_KINDS.map((k) => `kind = ${k}`).join(' OR ')};`

// Version 2's tables and views, named so the v1 → v2 migration (db.ts) creates exactly what a new file gets.
/** The replay's compact copy of a trace's faults (store/fault-pages.ts). */
const FAULT_PAGES = `
CREATE TABLE fault_pages (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  page_no INTEGER NOT NULL,
  faults INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (trace_id, page_no)
);
`
/** A short row per fault; what many faults share is stored once per run in fault_groups. */
const FAULT_ROWS = `
CREATE TABLE fault_groups (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  group_id INTEGER NOT NULL,
  tgid INTEGER NOT NULL,
  vma_start INTEGER,
  vma_end INTEGER,
  vma_lock INTEGER NOT NULL,
  took_mmap_lock INTEGER NOT NULL,
  reason_id INTEGER NOT NULL REFERENCES reasons(reason_id),
  low_confidence INTEGER NOT NULL,
  inferred_vma INTEGER NOT NULL,
  PRIMARY KEY (run_id, group_id)
) WITHOUT ROWID;
CREATE TABLE fault_results (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  event_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  wait_ns INTEGER NOT NULL,
  latency_ns INTEGER NOT NULL,
  start_delay_ns INTEGER NOT NULL,
  hold_ns INTEGER NOT NULL,
  PRIMARY KEY (run_id, event_id),
  FOREIGN KEY (run_id, group_id) REFERENCES fault_groups(run_id, group_id)
) WITHOUT ROWID;
`
/** Holds by operations other than faults (a fault's read hold is fault_results.hold_ns). */
const OP_LOCK_HOLDS = `
CREATE TABLE op_lock_holds (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  lock TEXT NOT NULL,
  mode TEXT NOT NULL,
  tgid INTEGER NOT NULL,
  tid INTEGER NOT NULL,
  op TEXT NOT NULL,
  event_id INTEGER,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  hold_ns INTEGER NOT NULL
);
CREATE INDEX op_lock_holds_run ON op_lock_holds(run_id, start_ns);
`
/** Per released file of a run whose policy defers VMA fputs (rcuDeferredFput); no rows for any other run. */
const FILE_RELEASES = `CREATE TABLE file_releases (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  file_id TEXT NOT NULL,
  path TEXT,
  tgid INTEGER,
  fd TEXT NOT NULL,
  closed_ns INTEGER,
  undeferred_ns INTEGER NOT NULL,
  released_ns INTEGER NOT NULL,
  late_ns INTEGER NOT NULL,
  deferred_fputs INTEGER NOT NULL
);
CREATE INDEX file_releases_run ON file_releases(run_id, late_ns);`

const RESULT_VIEWS = `
CREATE VIEW lock_holds AS
  SELECT run_id, lock, mode, tgid, tid, op, event_id, start_ns, end_ns, hold_ns FROM op_lock_holds
  UNION ALL
  SELECT run_id, 'mmap_lock', 'read', tgid, tid, 'fault', event_id, start_ns, start_ns + latency_ns, hold_ns FROM (
    SELECT f.run_id, g.tgid, e.tid, f.event_id, e.ts_ns - tr.first_ts_ns + f.start_delay_ns AS start_ns, f.latency_ns, f.hold_ns
    FROM fault_results f JOIN fault_groups g USING (run_id, group_id) JOIN events e ON e.event_id = f.event_id
    JOIN traces tr ON tr.trace_id = e.trace_id WHERE f.hold_ns > 0);
CREATE VIEW fault_outcomes AS
  SELECT r.run_id, runs.policy, e.ts_ns, g.tgid AS pid, e.tid, printf('0x%x', e.a) AS address, e.c AS error_code,
    CASE g.vma_lock WHEN 1 THEN 'vma_lock' ELSE 'mmap_lock' END AS path, g.took_mmap_lock, reasons.reason,
    r.wait_ns, r.latency_ns,
    CASE WHEN g.low_confidence THEN 'low' WHEN g.inferred_vma THEN 'inferred' ELSE 'high' END AS confidence
  FROM fault_results r JOIN fault_groups g USING (run_id, group_id) JOIN runs USING (run_id)
  JOIN events e ON e.event_id = r.event_id JOIN reasons ON reasons.reason_id = g.reason_id;
`

/**
 * Version 7's fault outcomes: a fault that did not wait and started on time is stored only as part of a span, its
 * thread's run of consecutive such faults of one group with the same latency and hold; the rest keep a row in
 * fault_rows, as do all faults of runs stored before. fault_results, the view, gives the same rows as the table it
 * replaces. New files get it on top of version 6's tables (and views over them).
 */
const SPARSE_FAULTS = `
DROP VIEW lock_holds;
DROP VIEW fault_outcomes;
ALTER TABLE fault_results RENAME TO fault_rows;
CREATE TABLE fault_spans (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  tid INTEGER NOT NULL,
  first_event_id INTEGER NOT NULL,
  last_event_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  faults INTEGER NOT NULL,
  latency_ns INTEGER NOT NULL,
  hold_ns INTEGER NOT NULL,
  PRIMARY KEY (run_id, tid, first_event_id),
  FOREIGN KEY (run_id, group_id) REFERENCES fault_groups(run_id, group_id)
) WITHOUT ROWID;
CREATE VIEW fault_results AS
  SELECT run_id, event_id, group_id, wait_ns, latency_ns, start_delay_ns, hold_ns FROM fault_rows
  UNION ALL
  SELECT s.run_id, e.event_id, s.group_id, 0, s.latency_ns, 0, s.hold_ns
  FROM fault_spans s JOIN events e ON e.event_id BETWEEN s.first_event_id AND s.last_event_id
  WHERE e.tid = s.tid AND e.kind IN (${Kind.FaultUser}, ${Kind.FaultKernel});
${RESULT_VIEWS}`

const TABLES = `
CREATE TABLE traces (
  trace_id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  size_bytes INTEGER NOT NULL,
  kernel_version TEXT,
  clock TEXT,
  lines INTEGER NOT NULL,
  events INTEGER NOT NULL,
  faults INTEGER NOT NULL,
  kernel_faults INTEGER NOT NULL,
  malformed_lines INTEGER NOT NULL,
  unknown_events INTEGER NOT NULL,
  lost_events INTEGER NOT NULL,
  lost_windows INTEGER NOT NULL,
  first_ts_ns INTEGER,
  last_ts_ns INTEGER,
  monotonic INTEGER NOT NULL,
  warnings TEXT NOT NULL,
  ingested_by TEXT NOT NULL,
  environment TEXT,
  format_variant TEXT
);
CREATE TABLE events (
  event_id INTEGER PRIMARY KEY,
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  line INTEGER NOT NULL,
  ts_ns INTEGER NOT NULL,
  tid INTEGER NOT NULL,
  tgid INTEGER,
  cpu INTEGER,
  kind INTEGER NOT NULL,
  a INTEGER, b INTEGER, c INTEGER, d INTEGER, e INTEGER, f INTEGER,
  text TEXT
);
${RARE_KINDS_INDEX}
CREATE TABLE event_kinds (kind INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE event_counts (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  name TEXT NOT NULL,
  known INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (trace_id, name)
) WITHOUT ROWID;
CREATE TABLE threads (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  tid INTEGER NOT NULL,
  tgid INTEGER,
  comm TEXT NOT NULL,
  first_ts_ns INTEGER NOT NULL,
  last_ts_ns INTEGER NOT NULL,
  events INTEGER NOT NULL,
  PRIMARY KEY (trace_id, tid)
) WITHOUT ROWID;
CREATE TABLE processes (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  tgid INTEGER NOT NULL,
  parent_tgid INTEGER,
  comm TEXT NOT NULL,
  exec_filename TEXT,
  start_ts_ns INTEGER,
  exit_ts_ns INTEGER,
  threads INTEGER NOT NULL,
  PRIMARY KEY (trace_id, tgid)
) WITHOUT ROWID;
CREATE TABLE mms (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  mm TEXT NOT NULL,
  owner_tgid INTEGER,
  first_ts_ns INTEGER NOT NULL,
  last_ts_ns INTEGER NOT NULL,
  lock_events INTEGER NOT NULL,
  PRIMARY KEY (trace_id, mm, first_ts_ns)
) WITHOUT ROWID;
CREATE TABLE syscalls (
  syscall_id INTEGER PRIMARY KEY,
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  tid INTEGER NOT NULL,
  tgid INTEGER,
  nr INTEGER NOT NULL,
  name TEXT NOT NULL,
  enter_event_id INTEGER,
  exit_event_id INTEGER,
  enter_ts_ns INTEGER,
  exit_ts_ns INTEGER,
  arg0 INTEGER, arg1 INTEGER, arg2 INTEGER, arg3 INTEGER, arg4 INTEGER, arg5 INTEGER,
  ret INTEGER,
  clone_flags INTEGER,
  lock_wait_ns INTEGER,
  lock_hold_ns INTEGER
);
CREATE INDEX syscalls_enter ON syscalls(enter_event_id);
CREATE INDEX syscalls_trace ON syscalls(trace_id, name);
CREATE INDEX syscalls_trace_enter ON syscalls(trace_id, enter_event_id);
CREATE TABLE initial_maps (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  tgid INTEGER NOT NULL,
  source TEXT NOT NULL,
  ts_ns INTEGER,
  vm_start INTEGER NOT NULL,
  vm_end INTEGER NOT NULL,
  perms TEXT NOT NULL,
  file_offset INTEGER NOT NULL,
  dev TEXT NOT NULL,
  inode INTEGER NOT NULL,
  path TEXT NOT NULL
);
CREATE INDEX initial_maps_trace ON initial_maps(trace_id, tgid);
${FAULT_PAGES}CREATE TABLE lost_windows (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  line INTEGER NOT NULL,
  cpu INTEGER,
  lost_events INTEGER,
  start_ts_ns INTEGER NOT NULL,
  end_ts_ns INTEGER NOT NULL
);
CREATE TABLE parse_problems (
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  line INTEGER NOT NULL,
  reason TEXT NOT NULL,
  excerpt TEXT NOT NULL
);
CREATE INDEX parse_problems_trace ON parse_problems(trace_id, line);
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY,
  trace_id INTEGER NOT NULL REFERENCES traces(trace_id),
  policy TEXT NOT NULL,
  policy_json TEXT NOT NULL,
  mode TEXT NOT NULL,
  options_json TEXT NOT NULL,
  tool_version TEXT NOT NULL,
  faults INTEGER NOT NULL,
  ops INTEGER NOT NULL,
  sim_end_ns INTEGER NOT NULL,
  digest TEXT NOT NULL
);
CREATE TABLE reasons (reason_id INTEGER PRIMARY KEY, reason TEXT NOT NULL UNIQUE);
${FAULT_ROWS}CREATE TABLE lock_waits (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  lock TEXT NOT NULL,
  mode TEXT NOT NULL,
  tgid INTEGER NOT NULL,
  waiter_tid INTEGER NOT NULL,
  waiter_op TEXT NOT NULL,
  waiter_event_id INTEGER,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  wait_ns INTEGER NOT NULL,
  holder_tid INTEGER,
  holder_op TEXT,
  holder_event_id INTEGER
);
CREATE INDEX lock_waits_run ON lock_waits(run_id, holder_event_id);
${OP_LOCK_HOLDS}CREATE TABLE run_counters (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  name TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE thread_results (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  tid INTEGER NOT NULL,
  tgid INTEGER NOT NULL,
  ops INTEGER NOT NULL,
  faults INTEGER NOT NULL,
  wait_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  PRIMARY KEY (run_id, tid)
) WITHOUT ROWID;
${FILE_RELEASES}
${RESULT_VIEWS}
${SPARSE_FAULTS}`

/** A typed view per event kind, naming the generic a..f/text columns (FIELD_NAMES). */
function eventViews(only?: Kind[]): string {
  const views: string[] = []
  const hexish = new Set(['address', 'ip', 'start', 'addr', 'lo', 'hi'])
  for (const [k, fields] of Object.entries(FIELD_NAMES)) {
    if (only !== undefined && !only.includes(Number(k) as Kind)) continue
    const name = KIND_NAMES[Number(k) as Kind]
    const cols = Object.entries(fields!).map(([col, field]) =>
      hexish.has(field!) ? `${col} AS ${field}, printf('0x%x', ${col}) AS ${field}_hex` : `${col} AS ${field}`,
    )
    views.push(
      `CREATE VIEW ev_${name} AS SELECT event_id, trace_id, line, ts_ns, tid, tgid, cpu, ${cols.join(', ')} ` +
        `FROM events WHERE kind = ${k};`,
    )
  }
  return views.join('\n')
}

/**
 * Schema migrations, by the version they start from; db.ts runs them in one transaction with foreign keys off.
 * v1 → v2: fault_results narrowed into fault_results + fault_groups (groups numbered per run in key order; a
 * replay numbers them by first appearance, both valid), fault read holds moved from lock_holds into
 * fault_results.hold_ns, lock_holds becomes op_lock_holds + a view, and fault_pages added (empty: traces ingested
 * before it replay through the SQL fault scan until re-ingested). Migrated runs keep their v1 digests.
 * v2 → v3: syscalls gain lock_wait_ns / lock_hold_ns, the calling thread's mmap_lock waits and holds as its traced
 * mmap_lock events show them; computed at ingest, so traces ingested before stay NULL until re-ingested. And the
 * index syscalls_trace_enter, which the replay reads one trace's syscalls in entry order by.
 * v3 → v4: traces gain `environment`, the recording machine's settings that change fault paths (THP mode) as JSON,
 * from the capture's meta file; NULL for traces ingested before (the replay then assumes THP madvise).
 * v4 → v5: file_releases, one row per released file of a run whose policy defers VMA fputs (spf-rcu-file); runs
 * stored before have no such policy, so the table starts empty and their digests stay as they were.
 * v5 → v6: traces gain `format_variant`, what the text format showed of the kernel that printed it (memcg_id or
 * memcg_path in the mmap_lock events, 0x-prefixed or bare-hex syscall arguments); NULL for traces ingested before.
 * v6 → v7: fault_results becomes a view over fault_rows (the old table, renamed, so stored runs read as before)
 * and fault_spans.
 * v7 → v8: the event kinds filemap_fault and filemap_map_pages (mm_filemap_fault, mm_filemap_map_pages) and their
 * views; traces ingested before have none of these events until re-ingested.
 */
export const MIGRATIONS: Record<number, string> = {
  1: `
DROP VIEW fault_outcomes;
ALTER TABLE fault_results RENAME TO fault_results_v1;
ALTER TABLE lock_holds RENAME TO lock_holds_v1;
DROP INDEX lock_holds_run;
CREATE TEMP TABLE fault_keys AS
  SELECT run_id, event_id, wait_ns, latency_ns, start_ns, tgid, vma_start, vma_end, vma_lock, took_mmap_lock, reason_id,
    low_confidence, inferred_vma,
    dense_rank() OVER (PARTITION BY run_id ORDER BY tgid, vma_start, vma_end, vma_lock, took_mmap_lock, reason_id, low_confidence, inferred_vma) - 1 AS group_id
  FROM fault_results_v1;
CREATE TEMP TABLE fault_holds (run_id INTEGER NOT NULL, event_id INTEGER NOT NULL, hold_ns INTEGER NOT NULL, PRIMARY KEY (run_id, event_id)) WITHOUT ROWID;
INSERT INTO fault_holds SELECT run_id, event_id, hold_ns FROM lock_holds_v1 WHERE op = 'fault';
${FAULT_ROWS}
INSERT INTO fault_groups
  SELECT DISTINCT run_id, group_id, tgid, vma_start, vma_end, vma_lock, took_mmap_lock, reason_id, low_confidence, inferred_vma FROM temp.fault_keys;
INSERT INTO fault_results
  SELECT k.run_id, k.event_id, k.group_id, k.wait_ns, k.latency_ns, k.start_ns - (e.ts_ns - tr.first_ts_ns), coalesce(h.hold_ns, 0)
  FROM temp.fault_keys k JOIN events e ON e.event_id = k.event_id JOIN traces tr ON tr.trace_id = e.trace_id
  LEFT JOIN temp.fault_holds h ON h.run_id = k.run_id AND h.event_id = k.event_id;
${OP_LOCK_HOLDS}
INSERT INTO op_lock_holds SELECT * FROM lock_holds_v1 WHERE op <> 'fault' ORDER BY rowid;
DROP TABLE fault_results_v1;
DROP TABLE lock_holds_v1;
DROP TABLE temp.fault_keys;
DROP TABLE temp.fault_holds;
${RESULT_VIEWS}
${FAULT_PAGES}`,
  2: `
ALTER TABLE syscalls ADD COLUMN lock_wait_ns INTEGER;
ALTER TABLE syscalls ADD COLUMN lock_hold_ns INTEGER;
CREATE INDEX syscalls_trace_enter ON syscalls(trace_id, enter_event_id);`,
  3: `ALTER TABLE traces ADD COLUMN environment TEXT;`,
  4: FILE_RELEASES,
  5: `ALTER TABLE traces ADD COLUMN format_variant TEXT;`,
  6: SPARSE_FAULTS,
  7: addedKinds([Kind.FilemapFault, Kind.FilemapMapPages]),
}

/** A migration that adds event kinds: their event_kinds rows and typed views. */
function addedKinds(kinds: Kind[]): string {
  const rows = kinds.map((k) => `(${k}, '${KIND_NAMES[k]}')`).join(', ')
  return `INSERT INTO event_kinds VALUES ${rows};\n${eventViews(kinds)}`
}

export function schemaSql(): string {
  const kinds = Object.entries(KIND_NAMES)
    .map(([k, n]) => `(${k}, '${n}')`)
    .join(', ')
  return `${TABLES}\nINSERT INTO event_kinds VALUES ${kinds};\n${eventViews()}`
}
