// What an EC2 action does with each request parameter the EC2 API reference documents for it:
// honoured, refused (with the EC2 error and only for values that ask what this cloud lacks) or
// ignored (with why). The endpoint checks every parameter of a request against its action's
// declaration before the action runs (issue 19): an undeclared one is `UnknownParameter`, a
// refused one its error. docs/ec2-parameters.md is rendered from these declarations.
import { StratusError } from '../../../errors.js';

/** The EC2 error a refused parameter gets. */
export type RefusalCode = 'InvalidParameterValue' | 'UnsupportedOperation';

export type ParameterRule =
  | { use: 'honoured'; note?: string | undefined }
  | {
      use: 'refused';
      code: RefusalCode;
      /** Why, for the message and the docs: what this cloud lacks. */
      reason: string;
      /**
       * Values that ask for nothing this cloud lacks and are accepted (compared without case);
       * any other non-empty value is refused. Undefined: every non-empty value is refused.
       */
      accepts?: readonly string[] | undefined;
      /** A value that is refused, for the test that walks the table. */
      sample: string;
    }
  | {
      use: 'ignored';
      /** Why accepting and dropping it is honest: it has no meaning here. */
      reason: string;
      /** A value that is accepted, for the test that walks the table. */
      sample: string;
    };

/**
 * One action's documented parameters by name pattern. A name is the parameter as it arrives
 * with each list index written `N` (`Filter.N.Value.N`, `TagSpecification.N.Tag.N.Key`); a
 * pattern ending in `.*` covers every parameter under it (`BlockDeviceMapping.N.*`). The most
 * specific pattern decides: an exact name, then the longest `.*` prefix.
 */
export type ActionParameters = Readonly<Record<string, ParameterRule>>;

export const honoured = (note?: string): ParameterRule => ({ use: 'honoured', note });

export const ignored = (reason: string, sample = 'x'): ParameterRule => ({
  use: 'ignored',
  reason,
  sample,
});

export function refused(
  reason: string,
  options: { code?: RefusalCode; accepts?: readonly string[]; sample?: string } = {},
): ParameterRule {
  return {
    use: 'refused',
    code: options.code ?? 'UnsupportedOperation',
    reason,
    accepts: options.accepts,
    sample: options.sample ?? 'x',
  };
}

/** `DryRun`, which every action takes; ec2-server.ts answers it for all of them. */
export const DRY_RUN: ActionParameters = {
  DryRun: honoured(
    'checked against this declaration, then DryRunOperation (412) without running the action',
  ),
};

/** `Filter.N.Name` with `Filter.N.Value.N`; each action refuses a filter name it lacks. */
export const FILTERS: ActionParameters = {
  'Filter.N.Name': honoured('an unknown filter name is InvalidParameterValue'),
  'Filter.N.Value.N': honoured(),
};

/** `TagSpecification.N...` on a create action: the tags are put on what it makes. */
export const TAG_SPECIFICATIONS: ActionParameters = {
  'TagSpecification.N.ResourceType': honoured(),
  'TagSpecification.N.Tag.N.Key': honoured(),
  'TagSpecification.N.Tag.N.Value': honoured(),
};

/**
 * Parameters of every request, handled once by ec2-server.ts and auth.ts: the action, the API
 * version and the signature (Signature Version 2 in the parameters, 4 in a presigned query).
 */
const COMMON =
  /^(Action|Version|AWSAccessKeyId|Signature|SignatureMethod|SignatureVersion|Timestamp|Expires|SecurityToken|X-Amz-[A-Za-z-]+)$/;

/** A request parameter's name with each list index written `N`. */
export function parameterShape(name: string): string {
  return name.replace(/\.\d+(?=\.|$)/g, '.N');
}

/** The pattern of `declared` that decides for `name` (a shape), or undefined. */
export function ruleFor(
  declared: ActionParameters,
  shape: string,
): { pattern: string; rule: ParameterRule } | undefined {
  const own = (p: string) => Object.prototype.hasOwnProperty.call(declared, p);
  if (own(shape)) return { pattern: shape, rule: declared[shape] as ParameterRule };
  // A list sent bare (`InstanceId` for `InstanceId.N`), as some clients send one value.
  if (own(`${shape}.N`))
    return { pattern: `${shape}.N`, rule: declared[`${shape}.N`] as ParameterRule };
  const parts = shape.split('.');
  for (let i = parts.length; i >= 1; i--) {
    const p = `${parts.slice(0, i).join('.')}.*`;
    if (own(p)) return { pattern: p, rule: declared[p] as ParameterRule };
  }
  return undefined;
}

/** Whether a present value of a refused parameter asks for something this cloud lacks. */
export function refuses(rule: ParameterRule, value: string): boolean {
  if (rule.use !== 'refused' || value === '') return false;
  return !(rule.accepts ?? []).some((a) => a.toLowerCase() === value.toLowerCase());
}

export function isCommonParameter(name: string): boolean {
  return COMMON.test(name);
}

/**
 * Checks every parameter of a request against its action's declaration: an undeclared one is
 * refused as EC2 refuses it (`UnknownParameter`), a refused one with its own error naming it.
 * Names are checked in the order they arrived.
 */
export function checkParameters(
  action: string,
  declared: ActionParameters,
  params: Readonly<Record<string, string>>,
): void {
  for (const [name, value] of Object.entries(params)) {
    if (isCommonParameter(name)) continue;
    const found = ruleFor(declared, parameterShape(name));
    if (!found) throw unknownParameter(name);
    const { rule } = found;
    if (rule.use === 'refused' && refuses(rule, value)) {
      const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
      throw new StratusError(
        'invalid',
        `The parameter ${name} (${shown}) is not supported by ${action} here: ${rule.reason}`,
        {
          resource: 'parameter',
          id: name,
          reason: rule.code === 'UnsupportedOperation' ? 'unsupported' : undefined,
        },
      );
    }
  }
}

/** EC2's words for a parameter it does not know (its message has no full stop). */
export function unknownParameter(name: string): StratusError {
  const shown = name.length > 128 ? `${name.slice(0, 128)}...` : name;
  return new StratusError('invalid', `The parameter ${shown} is not recognized`, {
    resource: 'parameter',
    id: name,
    reason: 'unrecognized',
  });
}
