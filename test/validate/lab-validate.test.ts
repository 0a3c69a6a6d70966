// lab validate: the verdicts, the generated doc section, the CLI's errors, and the cross pair end to end on the
// small real lab traces (traces/lab/: py_threads_small on real 6.1 and 6.12 guests).
import {describe, it, after} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import {tmpdir} from 'node:os'
import * as path from 'node:path'
import {judge, spread} from '../../src/validate/cross-generation.js'
import {DOC_BEGIN, DOC_END, rewriteSection} from '../../src/validate/lab-render.js'
import {repoRoot} from '../../src/lab/paths.js'
import {cliWith, type CliResult} from '../cli.js'

const tmp = fs.mkdtempSync(path.join(tmpdir(), 'vmareplay-labval-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

const cli = (args: string[]): CliResult => cliWith({timeout: 300_000}, ...args)

describe('verdicts', () => {
  const real = spread([0.05, 0.06, 0.07])
  it('a share inside the real min–max is within spread; the error is in percentage points', () => {
    const j = judge('took_mmap_lock', spread([0.065]), real)
    assert.equal(j.verdict, 'within spread')
    assert.equal(j.unit, 'pp')
    assert.ok(Math.abs(j.error! - 0.5) < 1e-9)
  })
  it('outside the spread: within 0.2 pp of the real mean, else outside', () => {
    const tight = spread([0.05, 0.051, 0.052])
    assert.equal(judge('took.file', spread([0.0525]), tight).verdict, 'within 0.2 pp') // +0.15 pp
    assert.equal(judge('took.file', spread([0.0535]), tight).verdict, 'outside') // +0.25 pp
    assert.equal(judge('took.file', spread([0.0715]), real).verdict, 'outside') // above the max by 0.15 pp, +1.15 pp from the mean
  })
  it('counts and waits: a ratio to the real mean, within ×1.5 or outside', () => {
    const r = spread([100, 110, 120])
    const j = judge('contended', spread([132, 176]), r) // mean 154 = 1.4 × 110
    assert.ok(Math.abs(j.error! - 1.4) < 1e-12)
    assert.deepEqual([j.unit, j.verdict], ['ratio', 'within ×1.5'])
    assert.equal(judge('contended', spread([170]), r).verdict, 'outside')
    assert.equal(judge('wait_p99_ns', spread([50]), r).verdict, 'outside')
    assert.equal(judge('wait_p99_ns', spread([79]), r).verdict, 'within ×1.5')
    assert.deepEqual(judge('contended', spread([0]), spread([0, 0])), {
      error: 1,
      unit: 'ratio',
      verdict: 'within spread',
    })
    assert.equal(judge('contended', spread([3]), spread([0, 0])).error, null)
  })
  it('spread: mean, min and max of the runs', () => {
    assert.deepEqual(spread([3, 1, 2]), {mean: 2, min: 1, max: 3, values: [3, 1, 2]})
  })
})

describe('doc section', () => {
  it('replaces only the text between the markers, idempotently', () => {
    const doc = `# T\n\nbefore\n${DOC_BEGIN}\nold\n${DOC_END}\nafter\n`
    const once = rewriteSection(doc, 'new table\n')
    assert.equal(once, `# T\n\nbefore\n${DOC_BEGIN}\nnew table\n${DOC_END}\nafter\n`)
    assert.equal(rewriteSection(once as string, 'new table\n'), once)
  })
  it('without the markers: an error, not a rewrite', () => {
    assert.deepEqual(Object.keys(rewriteSection('# no markers\n', 'x') as object), ['error'])
    assert.equal(typeof rewriteSection(`${DOC_END}\n${DOC_BEGIN}\n`, 'x'), 'object')
  })
})

describe('lab validate (CLI)', () => {
  it('--help has examples', () => {
    const r = cli(['lab', 'validate', '--help'])
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /EXAMPLES/)
    assert.match(r.out, /--write-doc/)
  })
  it('no suite directory, no index.json, missing runs: exit 2 with what to do', () => {
    let r = cli(['lab', 'validate', path.join(tmp, 'nope')])
    assert.equal(r.code, 2)
    assert.match(r.err, /no such suite directory.*lab suite --out/s)
    const empty = path.join(tmp, 'empty')
    fs.mkdirSync(empty)
    r = cli(['lab', 'validate', empty])
    assert.equal(r.code, 2)
    assert.match(r.err, /no index\.json/)
    const suite = makeSuite('short')
    r = cli(['lab', 'validate', suite, '--runs', '2'])
    assert.equal(r.code, 2)
    assert.match(r.err, /6\.1 py_threads_small has 1\s+(›\s+)?run\(s\), 2 needed/)
    r = cli(['lab', 'validate', suite, '--workload', 'nosuch'])
    assert.equal(r.code, 2)
    assert.match(r.err, /--workload nosuch: not in the suite/)
  })
})

/** A one-run suite of the committed lab traces, laid out as `lab suite` writes it. */
function makeSuite(name: string): string {
  const dir = path.join(tmp, name)
  const kernels = [
    {name: '6.1', release: '6.1.0-57-amd64', version: '6.1.192-3'},
    {name: '6.12', release: '6.12.118+deb12-amd64', version: '6.12.118-1~deb12u1'},
  ]
  const runs = kernels.map((k) => {
    const rel = path.join(k.name, 'py_threads_small', 'run-1')
    fs.mkdirSync(path.join(dir, rel), {recursive: true})
    const src = path.join(repoRoot(), 'traces', 'lab', `py_threads_small-${k.name}`)
    fs.copyFileSync(`${src}.trace.txt.xz`, path.join(dir, rel, 'trace.txt.xz'))
    fs.copyFileSync(`${src}.meta.json`, path.join(dir, rel, 'trace.meta.json'))
    return {
      kernel: k.name,
      release: k.release,
      workload: 'py_threads_small',
      run: 1,
      dir: rel,
      trace: path.join(rel, 'trace.txt.xz'),
      meta: path.join(rel, 'trace.meta.json'),
      lab: path.join(rel, 'lab.json'),
      attempt: 1,
      boot_s: null,
      guest_run_s: null,
    }
  })
  const index = {
    format: 'vmareplay-lab-suite/1',
    runs_per_kernel: 1,
    kernels: kernels.map((k) => ({
      name: k.name,
      release: k.release,
      source: {kind: 'debian', package: `linux-image-${k.release}-unsigned`, version: k.version},
    })),
    workloads: [{name: 'py_threads_small', description: 'traces/lab', command: ['python3']}],
    vm: {accel: 'tcg', cpu: 'qemu64', smp: 2, memory_mb: 2048, buffer_kb: 32768},
    runs,
    failures: [],
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index))
  return dir
}

describe('lab validate on the real small lab traces', () => {
  it("replays 6.1 → 6.12 and 6.12 → 6.1 end to end, with the kernels' policies, and writes the doc section", () => {
    const suite = makeSuite('small')
    const doc = path.join(tmp, 'validation.md')
    fs.writeFileSync(doc, `# V\n${DOC_BEGIN}\n${DOC_END}\n`)
    const raw = path.join(tmp, 'raw.json')
    const r = cli(['lab', 'validate', suite, '--json', '--write-doc', doc, '--raw', raw])
    assert.equal(r.code, 0, r.err)
    const v = JSON.parse(r.out)
    assert.deepEqual(
      v.suite.kernels.map((k: {name: string; policy: string}) => [k.name, k.policy]),
      [
        ['6.1', 'mmap-lock'],
        ['6.12', 'v6.10'],
      ],
    )
    assert.equal(
      v.suite.recorded,
      JSON.parse(
        fs.readFileSync(path.join(repoRoot(), 'traces/lab/py_threads_small-6.1.meta.json'), 'utf8'),
      ).created.slice(0, 10),
    )
    const cell = (source: string, target: string, metric: string): {predicted: {mean: number}; real: {mean: number}} =>
      v.comparisons.find(
        (c: {source: string; target: string; mode: string; metric: string}) =>
          c.source === source && c.target === target && c.mode === 'what-if' && c.metric === metric,
      )
    // 6.1 has no per-VMA path: every user fault takes mmap_lock, really and as predicted from the 6.12 trace
    assert.equal(cell('6.12', '6.1', 'took_mmap_lock').real.mean, 1)
    assert.equal(cell('6.12', '6.1', 'took_mmap_lock').predicted.mean, 1)
    // 6.12: a few per cent; the 6.1 trace replayed under v6.10 predicts a few per cent too, not 100 %
    const x = cell('6.1', '6.12', 'took_mmap_lock')
    assert.ok(x.real.mean > 0 && x.real.mean < 0.2, String(x.real.mean))
    assert.ok(x.predicted.mean > 0 && x.predicted.mean < 0.2, String(x.predicted.mean))
    // 6.1 takes mmap_lock for read about once per fault
    assert.ok(cell('6.12', '6.1', 'acquire_read_per_1k').real.mean >= 1000)
    assert.equal(v.faithful.length, 2)
    for (const f of v.faithful) assert.ok(f.accuracy > 0.99, `${f.kernel}: ${f.accuracy}`)
    assert.deepEqual(JSON.parse(fs.readFileSync(raw, 'utf8')), v)
    const md = fs.readFileSync(doc, 'utf8')
    assert.match(md, /### py_threads_small/)
    assert.match(md, /6\.1 → 6\.12 \| v6\.10 \| faults that took mmap_lock/)
    // deterministic: a second run writes the same numbers
    const again = cli(['lab', 'validate', suite, '--json'])
    assert.equal(again.out, r.out)
    // CSV keeps every digit of the raw numbers
    const rows = cli(['lab', 'validate', suite, '--csv']).out.trim().split('\r\n')
    assert.equal(rows.length, 1 + v.comparisons.length)
    const cross = v.comparisons.findIndex(
      (c: {source: string; target: string; metric: string}) =>
        c.source === '6.1' && c.target === '6.12' && c.metric === 'took_mmap_lock',
    )
    assert.equal(Number(rows[1 + cross]!.split(',')[6]), v.comparisons[cross].predicted.mean)
  })
})
