// Public surface of the EC2 edge for other edges (the operator's CLI shows and takes the EC2
// ids users see): how domain ids look on the EC2 wire.
export { ec2Id, imageEc2Id, parseImageEc2Id, IMAGE_ID_PREFIX, type ImageIdKind } from './ids.js';
