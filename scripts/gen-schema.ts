// Writes schemas/adapter_config.schema.json from the LoraConfig field table and rules (src/core/peft/loraSchema.ts).
// Run `npm run gen:schema` after changing src/core/peft/loraFields.ts or loraRules.ts; a unit test checks they agree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterConfigSchemaText } from '../src/core/peft/loraSchema';

const file = path.join(__dirname, '..', 'schemas', 'adapter_config.schema.json');
fs.writeFileSync(file, adapterConfigSchemaText());
process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
