// The request parameters of the tag actions (actions/tags.ts), each honoured, refused or
// ignored (rules.ts).
import { DRY_RUN, FILTERS, honoured, type ActionParameters } from './rules.js';

export const tagParameters: Readonly<Record<string, ActionParameters>> = {
  CreateTags: {
    ...DRY_RUN,
    'ResourceId.N': honoured(),
    'Tag.N.Key': honoured(),
    'Tag.N.Value': honoured(),
  },
  DeleteTags: {
    ...DRY_RUN,
    'ResourceId.N': honoured(),
    'Tag.N.Key': honoured(),
    'Tag.N.Value': honoured('only a tag with this value is deleted'),
  },
  DescribeTags: { ...DRY_RUN, ...FILTERS, MaxResults: honoured(), NextToken: honoured() },
};
