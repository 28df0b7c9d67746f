// Public surface of the metadata service edge.
export { MetadataService, type InstanceMetadata } from './metadata-service.js';
export { MetadataServer, answer } from './metadata-server.js';
