// The product's version, written in one place: package.json. The chart's
// version and appVersion must say the same (test/unit/cli/version.test.ts), and
// hack/image.sh tags the image with it.
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
