/** Writes config.schema.json from the one definition in src/config/schema.ts and its sections in src/config/schema/ (run by `npm run build`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsonSchema } from '../src/config/schema.js';

const out = fileURLToPath(new URL('../../config.schema.json', import.meta.url));
writeFileSync(out, JSON.stringify(jsonSchema(), null, 2) + '\n');
