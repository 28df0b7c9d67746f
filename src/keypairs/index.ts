// Public surface of keypairs.
export { KeypairService, type KeypairServiceOptions } from './keypair-service.js';
export {
  generateKeyPair,
  parsePublicKey,
  type KeyType,
  type GeneratedKeyPair,
  type ParsedPublicKey,
} from './crypto.js';
