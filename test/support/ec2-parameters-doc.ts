// Test support: docs/ec2-parameters.md as the declarations render it, formatted as the
// repository formats Markdown. `npm run docs:ec2-parameters` writes it; a test compares.
import prettier from 'prettier';
import {
  EC2_PARAMETERS,
  identityParameters,
  renderParameterTable,
} from '../../src/api/ec2/parameters/index.js';

export const EC2_PARAMETERS_DOC = 'docs/ec2-parameters.md';

export async function ec2ParametersDoc(): Promise<string> {
  const options = (await prettier.resolveConfig(EC2_PARAMETERS_DOC)) ?? {};
  return prettier.format(renderParameterTable(EC2_PARAMETERS, identityParameters), {
    ...options,
    parser: 'markdown',
  });
}
