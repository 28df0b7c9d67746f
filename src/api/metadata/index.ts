// Public surface of the metadata edge.
export { ec2MetadataFiles, type MetadataContext } from './ec2-metadata.js';
