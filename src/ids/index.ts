// How the domain's UUIDs look on the EC2 wire (`i-0123456789abcdef0`, `ami-...`): shared by the
// EC2 edge, the metadata service (guests see EC2 ids) and the operator's CLI, which shows and
// takes the ids users see.
export * from './ec2.js';
export * from './prefixes.js';
