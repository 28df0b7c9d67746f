// Writes docs/ec2-parameters.md from the EC2 parameter declarations (src/api/ec2/parameters/),
// as `npm run docs:ec2-parameters` after a build; src/api/ec2/parameters/parameters.test.ts
// checks that the file matches them.
import fs from 'node:fs';
import { EC2_PARAMETERS_DOC, ec2ParametersDoc } from '../dist/test/support/ec2-parameters-doc.js';

fs.writeFileSync(EC2_PARAMETERS_DOC, await ec2ParametersDoc());
console.log(`wrote ${EC2_PARAMETERS_DOC}`);
