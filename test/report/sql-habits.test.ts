// sqlite3 habits: `query -f FILE.sql` runs a script statement by statement, `analyze --query` prints a query after
// the replay. The script splitter is checked on what sqlite3 does not split on (literals, identifiers, comments).
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDbReadOnly} from '../../src/store/db.js'
import {splitStatements} from '../../src/store/readonly-query.js'
import {SMALL_TRACE} from './fixture.js'
import {cli, cliWith} from '../cli.js'

const dir = mkdtempSync(join(tmpdir(), 'vmareplay-sql-'))

test('splitStatements: ; ends a statement except inside literals, quoted names and comments', () => {
  const script = [
    '-- a comment; with a semicolon',
    'SELECT \'a;b\', "x;y", [c;d], `e;f` FROM t; /* ; */',
    '',
    "SELECT 'it''s; fine'",
    ';;  -- nothing between these',
    '/* multi',
    'line; */ SELECT 3',
  ].join('\n')
  assert.deepEqual(splitStatements(script), [
    {sql: 'SELECT \'a;b\', "x;y", [c;d], `e;f` FROM t', line: 2},
    {sql: "SELECT 'it''s; fine'", line: 4},
    {sql: 'SELECT 3', line: 7},
  ])
  assert.deepEqual(splitStatements('-- only a comment\n\n'), [])
})

test('query -f runs each statement and prints it with its result; a bad one fails first, with its line', () => {
  const db = join(dir, 'q.db')
  assert.equal(cli('ingest', SMALL_TRACE, '--db', db).code, 0)
  const file = join(dir, 'two.sql')
  writeFileSync(
    file,
    '-- counts\nSELECT count(*) AS n FROM traces;\n\nSELECT name FROM event_kinds WHERE kind IN (1, 2) ORDER BY kind;\n',
  )
  let r = cli('query', '--db', db, '-f', file)
  assert.equal(r.code, 0, r.err)
  const blocks = r.out.trim().split('\n\n')
  assert.equal(blocks.length, 2)
  assert.match(blocks[0]!, /^SELECT count\(\*\) AS n FROM traces;\n[\s\S]*│ 1 │[\s\S]*\(1 row\)$/)
  assert.match(
    blocks[1]!,
    /^SELECT name FROM event_kinds[^\n]*;\n[\s\S]*fault_user[\s\S]*fault_kernel[\s\S]*\(2 rows\)$/,
  )
  r = cli('query', '--db', db, '-f', file, '--json')
  const parsed = JSON.parse(r.out) as {sql: string; line: number; rows: Record<string, unknown>[]}[]
  assert.deepEqual(
    parsed.map((p) => [p.line, p.rows]),
    [
      [2, [{n: 1}]],
      [4, [{name: 'fault_user'}, {name: 'fault_kernel'}]],
    ],
  )
  r = cli('query', '--db', db, '-f', file, '--csv')
  assert.equal(r.out, 'n\r\n1\r\n\r\nname\r\nfault_user\r\nfault_kernel\r\n')
  // standard input, as `sqlite3 db < file.sql`
  r = cliWith({input: 'SELECT 7 AS seven; SELECT 8 AS eight'}, 'query', '--db', db, '-f', '-')
  assert.equal(r.code, 0, r.err)
  assert.match(r.out, /SELECT 7 AS seven;[\s\S]*│ 7[\s\S]*SELECT 8 AS eight;[\s\S]*│ 8/)
  writeFileSync(file, 'SELECT 1;\n\nDELETE FROM traces;\n')
  r = cli('query', '--db', db, '-f', file)
  assert.equal(r.code, 2)
  assert.equal(r.out, '', 'nothing runs when a statement is refused')
  assert.match(r.err, /two\.sql: statement 2 \(line 3\): query is read-only/)
  r = cli('query', '--db', db)
  assert.equal(r.code, 2)
  assert.match(r.err, /give one SELECT statement, or -f FILE/)
})

test('analyze --query prints each query after the report; a bad query fails before any work', () => {
  const db = join(dir, 'a.db')
  const q = 'SELECT policy, count(*) AS faults FROM fault_outcomes GROUP BY policy ORDER BY policy'
  let r = cli(
    'analyze',
    SMALL_TRACE,
    '--db',
    db,
    '--policy',
    'mmap-lock,v6.18',
    '--query',
    q,
    '--query',
    'SELECT count(*) AS runs FROM runs',
  )
  assert.equal(r.code, 0, r.err)
  const tail = r.out.slice(r.out.indexOf('\nQueries\n'))
  // every traced fault (user and kernel-mode) is replayed once per policy
  const ro = openDbReadOnly(db)
  const n = ro.prepare('SELECT faults + kernel_faults FROM traces').pluck().get() as number
  ro.close()
  assert.match(
    tail,
    new RegExp(
      `${q.replace(/[()*]/g, '\\$&')};\\n[\\s\\S]*mmap-lock[^\\n]*${n}[\\s\\S]*v6\\.18[^\\n]*${n}[\\s\\S]*\\(2 rows\\)`,
    ),
  )
  assert.match(tail, /SELECT count\(\*\) AS runs FROM runs;\n[\s\S]*│ 2 /)
  r = cli(
    'analyze',
    SMALL_TRACE,
    '--db',
    join(dir, 'b.db'),
    '--policy',
    'v6.18',
    '--query',
    'SELECT 1 AS one',
    '--json',
  )
  assert.deepEqual(
    (JSON.parse(r.out) as {queries: {rows: unknown[]}[]}).queries.map((x) => x.rows),
    [[{one: 1}]],
  )
  r = cli('analyze', SMALL_TRACE, '--db', join(dir, 'c.db'), '--query', 'SELECT nope FROM runs')
  assert.equal(r.code, 2)
  assert.match(r.err, /--query: SQL error: no such column: nope/)
  assert.doesNotMatch(r.out, /fell back/, 'no report: it failed before the replay')
})
