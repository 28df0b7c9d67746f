// Public surface of the metadata service edge.
export {
  MetadataService,
  type InstanceMetadata,
  type InstanceFactsSource,
} from './metadata-service.js';
export { CLIENT_FORWARDED_FOR, MetadataServer } from './metadata-server.js';
export { answer, metadataFiles } from './metadata-tree.js';
