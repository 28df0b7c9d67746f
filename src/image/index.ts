// Public surface of the image store: import a file as an image (or create a queued image and
// upload its data), register more images over a stored file, copy an image, share it with
// projects, find an image and its file, delete images. `ImageStore` is for trusted callers
// (the operator's CLI, virt drivers, start-up); API edges use `ImageService`, which applies
// tenancy (a project sees public images, its own and those shared with it; an admin sees all).
export {
  ImageStore,
  IMAGE_KINDS,
  ARCHITECTURES,
  MACHINE_FORMATS,
  type ImageStoreOptions,
  type NewImage,
  type ImportRequest,
  type CreateRequest,
  type CopyRequest,
  type UploadOptions,
  type RegisterRequest,
  type ImageFile,
  type ImageAttributes,
  type ImageChange,
  imageProperties,
  imageTags,
} from './image-store.js';
export { ImageService, type ImageQuery } from './image-service.js';
export { QemuImg, type QemuImgOptions, type ImageFileInfo } from './qemu-img.js';
export type { CopyProgress } from './copy-file.js';
export {
  isVolumeBacked,
  rootDeviceNameOf,
  volumeMappingsOf,
  volumeMappingProperties,
  type ImageVolumeMapping,
} from './volume-mappings.js';
