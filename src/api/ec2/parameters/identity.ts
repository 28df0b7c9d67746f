// The request parameters of STS GetCallerIdentity and IAM GetUser (caller-identity.ts), each
// honoured, refused or ignored (rules.ts). They take no DryRun.
import { honoured, type ActionParameters } from './rules.js';

export const identityParameters: Readonly<Record<'sts' | 'iam', Record<string, ActionParameters>>> =
  {
    sts: { GetCallerIdentity: {} },
    iam: {
      GetUser: { UserName: honoured('the caller only; another name is NoSuchEntity') },
    },
  };
