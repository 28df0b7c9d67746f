// The request parameters of the key pair actions (actions/keypairs.ts), each honoured,
// refused or ignored (rules.ts).
import { DRY_RUN, FILTERS, honoured, TAG_SPECIFICATIONS, type ActionParameters } from './rules.js';

export const keypairParameters: Readonly<Record<string, ActionParameters>> = {
  CreateKeyPair: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    KeyName: honoured(),
    KeyType: honoured('rsa or ed25519'),
    KeyFormat: honoured('pem or ppk'),
  },
  ImportKeyPair: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    KeyName: honoured(),
    PublicKeyMaterial: honoured(),
  },
  DescribeKeyPairs: {
    ...DRY_RUN,
    ...FILTERS,
    'KeyName.N': honoured(),
    'KeyPairId.N': honoured(),
    IncludePublicKey: honoured(),
  },
  DeleteKeyPair: { ...DRY_RUN, KeyName: honoured(), KeyPairId: honoured() },
};
