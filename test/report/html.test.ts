import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {smallDb, type Fixture} from './fixture.js'
import {selectRuns} from '../../src/report/runs.js'
import {buildPage} from '../../src/report/page.js'
import {renderHtml} from '../../src/report/html.js'

let fx: Fixture
let html: string
const dir = mkdtempSync(join(tmpdir(), 'vmareplay-html-'))
before(async () => {
  fx = await smallDb(['mmap-lock', 'v6.4', 'v6.18'])
  html = renderHtml(buildPage(fx.db, selectRuns(fx.db, fx.path, {}), {top: 5, buckets: 300, toolVersion: 'test'}))
})
after(() => fx.db.close())

test('the page is self-contained: inline CSS and SVG, no script, no external reference', () => {
  assert.match(html, /^<!DOCTYPE html>/)
  assert.match(html, /<style>/)
  assert.ok(
    !/<script|<link|<img|<iframe|@import|url\(/i.test(html),
    'no script, stylesheet link, image, frame or CSS url()',
  )
  assert.ok(!/\s(src|href)=/i.test(html), 'no src/href attribute')
  const urls = html.match(/https?:\/\/[^\s"'<>]+/g) ?? []
  assert.deepEqual(
    [...new Set(urls)],
    ['http://www.w3.org/2000/svg'],
    'the only URL is the SVG namespace (never fetched)',
  )
  assert.ok((html.match(/<svg /g) ?? []).length >= 2, 'timeline and histogram')
  for (const s of [
    'Headline',
    'mmap_lock over time',
    'Fault waits',
    'Comparison',
    'Top blocking operations',
    'Hottest VMAs',
  ])
    assert.ok(html.includes(`>${s}</h2>`), s)
  // every run has a card and a column in the comparison
  for (const p of ['mmap-lock', 'v6.4', 'v6.18']) assert.ok(html.includes(`<h3>${p} `), p)
})

function chromium(): string | null {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome'])
    if (spawnSync('sh', ['-c', `command -v ${c}`]).status === 0) return c
  return null
}
const browser = chromium()
const skip =
  browser === null ? 'chromium is not installed (apt-get install -y chromium): headless rendering not checked' : false
const flags = (): string[] => [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  `--user-data-dir=${mkdtempSync(join(dir, 'profile-'))}`,
  '--enable-logging=stderr',
  '--v=0',
]

test(
  'chromium renders the page headless to a non-trivial PNG, loads it without console errors, and builds the SVG DOM',
  {skip, timeout: 120_000},
  () => {
    const page = join(dir, 'report.html')
    writeFileSync(page, html)
    const png = join(dir, 'report.png')
    const shot = spawnSync(browser!, [...flags(), `--screenshot=${png}`, '--window-size=1400,2400', `file://${page}`], {
      encoding: 'utf8',
      timeout: 90_000,
    })
    assert.ok(existsSync(png), `no screenshot: ${shot.stderr.slice(-2000)}`)
    const buf = readFileSync(png)
    assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature')
    assert.deepEqual([buf.readUInt32BE(16), buf.readUInt32BE(20)], [1400, 2400], 'IHDR size')
    assert.ok(
      statSync(png).size > 30_000,
      `a page with charts and tables compresses to more than 30 kB (got ${statSync(png).size})`,
    )
    const consoleErrors = (s: string): string[] =>
      s.split('\n').filter((l) => /CONSOLE|Uncaught|SyntaxError|Failed to load/.test(l))
    assert.deepEqual(consoleErrors(shot.stderr), [])
    const dom = spawnSync(browser!, [...flags(), '--dump-dom', `file://${page}`], {
      encoding: 'utf8',
      timeout: 90_000,
      maxBuffer: 64 << 20,
    })
    assert.ok((dom.stdout.match(/<svg /g) ?? []).length >= 2, 'the parsed DOM has the SVG charts')
    assert.ok(dom.stdout.includes('<path d="M'), 'timeline areas')
    assert.ok(dom.stdout.includes('<rect x='), 'histogram bars')
    assert.deepEqual(consoleErrors(dom.stderr), [])
    // the console-error check does see errors (a page that throws)
    const bad = join(dir, 'bad.html')
    writeFileSync(bad, '<!DOCTYPE html><p>x</p><script>throw new Error("boom-from-test")</script>')
    const b = spawnSync(browser!, [...flags(), '--dump-dom', `file://${bad}`], {encoding: 'utf8', timeout: 90_000})
    assert.ok(
      consoleErrors(b.stderr).some((l) => l.includes('boom-from-test')),
      'a thrown error is reported on stderr',
    )
  },
)
