// The layer order of docs/architecture.md, checked on every import of src/ (type-only imports included):
// a folder may import only folders on lower levels, never one beside it or above it, so no folder cycle can form
// (modules inside one folder may still import each other, as the kernel's do for their types). `npm run lint` runs it.
/** Lowest level first; folders on one level do not import each other. */
const LAYERS = [
  ['model'],
  ['base'],
  ['sim', 'capture', 'lab', 'parse'],
  ['kernel'],
  ['results'],
  ['store'],
  ['ingest', 'replay'],
  ['validate', 'report'],
  ['export'],
  ['cli'],
  ['commands'],
]

const LISTED = `^src/(${LAYERS.flat().join('|')})/`

const layerRules = LAYERS.flatMap((level, i) =>
  level.map((folder) => ({
    name: `layer-${folder}`,
    comment: `src/${folder}/ may import only folders below it (docs/architecture.md)`,
    severity: 'error',
    from: {path: `^src/${folder}/`},
    to: {
      path: `^src/(${LAYERS.slice(i)
        .flat()
        .filter((f) => f !== folder)
        .join('|')})/`,
    },
  })),
)

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'not-to-unresolvable',
      comment: 'an import the checker cannot resolve would escape every rule above',
      severity: 'error',
      from: {},
      to: {couldNotResolve: true},
    },
    {
      name: 'no-unlisted-folder',
      comment: 'every folder of src/ has a place in LAYERS (a module outside them, importing or imported)',
      severity: 'error',
      from: {path: '^src/', pathNot: LISTED},
      to: {},
    },
    {
      name: 'not-to-unlisted-folder',
      comment: 'every folder of src/ has a place in LAYERS (a module outside them, importing or imported)',
      severity: 'error',
      from: {},
      to: {path: '^src/', pathNot: LISTED},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    // resolve packages as node does for an ES module (@oclif/core and csv-parse/sync have only `exports`)
    enhancedResolveOptions: {exportsFields: ['exports'], conditionNames: ['import', 'node', 'default']},
  },
}
