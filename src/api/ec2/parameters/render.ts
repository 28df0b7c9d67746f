// docs/ec2-parameters.md from the declarations: for each action, its documented parameters in
// three groups (honoured, refused, ignored) with what each does here.
import type { ActionParameters, ParameterRule } from './rules.js';

const ORDER: Record<ParameterRule['use'], number> = { honoured: 0, refused: 1, ignored: 2 };

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function row(pattern: string, rule: ParameterRule): string {
  const name = `\`${pattern}\``;
  switch (rule.use) {
    case 'honoured':
      return `| ${name} | honoured | ${cell(rule.note ?? '')} |`;
    case 'refused': {
      const unless = rule.accepts?.length
        ? ` unless ${rule.accepts.map((a) => `\`${a}\``).join(' or ')}`
        : '';
      return `| ${name} | refused${unless}: \`${rule.code}\` | ${cell(rule.reason)} |`;
    }
    case 'ignored':
      return `| ${name} | ignored | ${cell(rule.reason)} |`;
  }
}

function section(title: string, declared: ActionParameters): string[] {
  const entries = Object.entries(declared).sort(
    ([a, ra], [b, rb]) => ORDER[ra.use] - ORDER[rb.use] || (a < b ? -1 : a > b ? 1 : 0),
  );
  if (entries.length === 0) return [`## ${title}`, '', 'No parameters.', ''];
  return [
    `## ${title}`,
    '',
    '| parameter | here | why, or what it does |',
    '| --- | --- | --- |',
    ...entries.map(([p, r]) => row(p, r)),
    '',
  ];
}

/** The whole page, before formatting (the writer and the test run prettier over it). */
export function renderParameterTable(
  ec2: Readonly<Record<string, ActionParameters>>,
  identity: Readonly<Record<string, Readonly<Record<string, ActionParameters>>>>,
): string {
  const lines = [
    '# EC2 request parameters',
    '',
    '<!-- Generated from src/api/ec2/parameters/ by `npm run docs:ec2-parameters`; do not edit. -->',
    '',
    'Every request parameter the EC2 API reference documents for each action this cloud serves, in',
    'one of three groups (issue 19):',
    '',
    '- **honoured**: it does what EC2 documents;',
    '- **refused**: a value that asks for something this cloud lacks is answered with the error',
    '  named (HTTP 400, naming the parameter); an empty value, or one listed after "unless", asks for',
    '  nothing missing and is accepted;',
    '- **ignored**: accepted and dropped, because it has no meaning here (the reason says why).',
    '',
    'A parameter that is not listed for its action is answered with `UnknownParameter` (HTTP',
    '400). `N` stands for a list index (`Filter.1.Value.2` is `Filter.N.Value.N`), and a pattern',
    'ending in `.*` covers every parameter under it. The parameters of every request (`Action`,',
    '`Version`, `AWSAccessKeyId`, `Signature`, `SignatureMethod`, `SignatureVersion`, `Timestamp`,',
    '`Expires`, `SecurityToken` and `X-Amz-*`) are not repeated. `DryRun=true` checks the',
    'request against this table and answers `DryRunOperation` (HTTP 412) without running the',
    'action: every member of a project may call every EC2 action, so there is no other',
    'permission to check.',
    '',
    ...Object.keys(ec2)
      .sort()
      .flatMap((action) => section(action, ec2[action] as ActionParameters)),
    ...Object.entries(identity).flatMap(([api, actions]) =>
      Object.keys(actions)
        .sort()
        .flatMap((action) =>
          section(
            `${action} (${api.toUpperCase()}, at /${api}/)`,
            actions[action] as ActionParameters,
          ),
        ),
    ),
  ];
  return lines.join('\n');
}
