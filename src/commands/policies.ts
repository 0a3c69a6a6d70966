import {BaseCommand, jsonFlag} from '../cli/base.js'
import {builtinPolicies} from '../replay/policies.js'
import {json} from '../report/output.js'

export default class Policies extends BaseCommand {
  static override description = `List the locking policies a trace can be replayed under.

A policy is a kernel generation plus knobs. Write your own as JSON and pass it with --policy-file:
  {"name": "no-fork-lock", "base": "v6.18", "kernel": {"forkWriteLocksParent": false},
   "knobs": {"retryUnderVmaLock": true}, "rcuGracePeriodNs": 20000000}`

  static override examples = ['<%= config.bin %> policies', '<%= config.bin %> policies --json']
  static override flags = {json: jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Policies)
    const list = builtinPolicies()
    if (flags.json) {
      this.log(
        json(
          list.map((p) => ({
            name: p.name,
            summary: p.summary,
            description: p.description,
            generation: p.generation,
            knobs: p.knobs,
          })),
        ),
      )
      return
    }
    for (const p of list) this.log(`${p.name} — ${p.summary}\n${wrap(p.description, 100, '    ')}\n`)
  }
}

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > width) {
      lines.push(indent + line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(indent + line)
  return lines.join('\n')
}
