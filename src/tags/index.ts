// Public surface of tags.
export {
  TagService,
  MAX_TAGS_PER_RESOURCE,
  type TagServiceOptions,
  type Tag,
  type TagEntry,
  type TaggableRef,
  type TaggableType,
  type TaggedResource,
} from './tag-service.js';
