// The kernel API as the tests import it (one place to re-export the scheduler types too).
export * from '../../src/kernel/index.js'
export {Scheduler, BLOCK, type Step} from '../../src/sim/scheduler.js'
