import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { writeFileSync } from 'node:fs'
const code = process.argv[2]
const r = await build({ absWorkingDir: process.cwd(), stdin: { contents: code, resolveDir: process.cwd(), loader: 'ts' }, bundle: true, splitting: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', external: ['axios'], write: false, outdir: 'out', metafile: true, logLevel: 'silent' })
const outs = r.metafile.outputs
const entry = Object.keys(outs).find(k => outs[k].entryPoint)
const eager = new Set(); const visit = p => { if (eager.has(p)) return; eager.add(p); for (const i of outs[p].imports) if (i.kind==='import-statement' && !i.external) visit(i.path) }; visit(entry)
let gz=0, lazy=0; const mods=[]
for (const f of r.outputFiles) { const rel = Object.keys(outs).find(k => f.path.endsWith(k)); const g = gzipSync(f.contents,{level:9}).length; if (eager.has(rel)) { gz+=g; for (const [i,{bytesInOutput}] of Object.entries(outs[rel].inputs)) mods.push([bytesInOutput,i]) } else lazy+=g }
console.log('eager gz', gz, 'lazy gz', lazy)
console.log(mods.sort((a,b)=>b[0]-a[0]).map(m=>m.join(' ')).join('\n'))
