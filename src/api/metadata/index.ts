// Public surface of the metadata service edge.
export { MetadataService, type InstanceMetadata } from './metadata-service.js';
export { MetadataServer, answer } from './metadata-server.js';
export { ec2MetadataFiles, type MetadataContext } from './ec2-metadata.js';
