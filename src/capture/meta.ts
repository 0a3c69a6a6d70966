// The parts of FILE.meta.json both backends write the same way; each backend adds its own sections between them.

import * as os from 'node:os'
import {readEnvironment} from './environment.js'
import type {EventSpec} from './events.js'
import type {CommonOptions} from './types.js'

/** What the file is and what was traced. */
export function metaHeader(o: CommonOptions, backend: 'ftrace' | 'perf', attached: boolean): Record<string, unknown> {
  return {
    format: 'vmareplay-capture-meta/1',
    tool: {name: 'vmareplay capture', version: o.toolVersion},
    backend,
    mode: attached ? 'attach' : 'launch',
    command: o.command ?? null,
  }
}

/** The recording machine: kernel, the settings the replay takes as input, CPUs, when, and the trace clock. */
export function machineFacts(cpus: number): Record<string, unknown> {
  return {
    kernel: {release: os.release(), version: os.version(), machine: os.machine()},
    environment: readEnvironment(),
    cpus,
    created: new Date().toISOString(),
    clock: 'mono',
  }
}

/** The events asked for, those recorded and those the kernel lacks. */
export function eventFacts(o: CommonOptions, enabled: EventSpec[], missing: EventSpec[]): Record<string, unknown> {
  return {
    enabled: enabled.map((e) => e.name),
    missing: missing.map((e) => e.name),
    groups: {kfault: o.events.kfault, pagecache: o.events.pagecache, extra: o.events.extra},
  }
}
