// After tsc: make the CLI executable (npm links it as the `layerleak` bin).
import { chmodSync, existsSync } from 'node:fs'

const bin = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(bin)) {
  console.error('build: dist/cli/main.js is missing')
  process.exit(1)
}
chmodSync(bin, 0o755)
